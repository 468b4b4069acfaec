package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/metrics"
)

// nopResponseWriter is a reusable http.ResponseWriter, so the benchmark measures
// the middleware rather than httptest.ResponseRecorder.
type nopResponseWriter struct{ h http.Header }

func (w *nopResponseWriter) Header() http.Header         { return w.h }
func (w *nopResponseWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopResponseWriter) WriteHeader(int)             {}
func (w *nopResponseWriter) Flush()                      {}

// BenchmarkObserve is one relay-shaped request through gin: without the
// middleware, with it and metrics off, metrics on, and metrics on plus the
// access log.
func BenchmarkObserve(b *testing.B) {
	defer common.SetLogOutput(io.Discard)()
	body := []byte(`{"id":"chatcmpl-1"}`)
	handler := func(c *gin.Context) {
		if info := metrics.RequestInfoFrom(c.Request.Context()); info != nil {
			info.Model, info.ChannelID = "gpt-4o-mini", 3
		}
		c.Writer.Header()["Content-Type"] = []string{"application/json"}
		c.Writer.WriteHeaderNow()
		c.Writer.Write(body)
	}
	slow := 3 * time.Second
	variants := []struct {
		name    string
		observe bool
		metrics bool
		access  bool
	}{
		{"none", false, false, false},
		{"metrics=off", true, false, false},
		{"metrics=on", true, true, false},
		{"metrics=on+access_log", true, true, true},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			gin.SetMode(gin.TestMode)
			e := gin.New()
			if v.observe {
				var m *metrics.Metrics
				if v.metrics {
					m = enabledMetrics(b)
				}
				e.Use(Observe(m, common.MetricsConfig{SlowRequestThreshold: slow, AccessLog: v.access}))
			}
			e.POST("/v1/chat/completions", handler)
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
			w := &nopResponseWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				e.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkAccessLog is the access line alone, written as in production to
// a file (here /dev/null, so the write system call is counted), for a
// relay request behind a proxy that sets X-Forwarded-For.
func BenchmarkAccessLog(b *testing.B) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	defer common.SetLogOutput(null)()
	gin.SetMode(gin.TestMode)
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = req
	c.Writer.Header().Set(RequestIDHeader, "20261202223900123456789abcdef")
	o := newObserver(nil, common.MetricsConfig{AccessLog: true}, time.Now)
	b.ReportAllocs()
	for b.Loop() {
		o.logAccess(c, http.StatusOK, 12345678*time.Nanosecond)
	}
}
