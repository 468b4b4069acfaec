package middleware

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"one-api/internal/logtest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"one-api/common"
	"one-api/metrics"
)

// stepClock only moves when a test (or a handler) advances it.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func newStepClock() *stepClock {
	return &stepClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

func (f *stepClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *stepClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// captureObserveLog sends the process log to a buffer for the rest of the test.
func captureObserveLog(t *testing.T) *logtest.Buffer {
	t.Helper()
	return logtest.Capture(t)
}

// grepLog returns the captured lines containing s.
func grepLog(buf *logtest.Buffer, s string) []string {
	var out []string
	for _, l := range buf.Lines() {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// observedEngine is a gin engine laid out like the gateway's: a request id
// middleware, then Observe, then the routes, and a NoRoute handler.
func observedEngine(o *observer, routes func(e *gin.Engine)) *gin.Engine {
	gin.SetMode(gin.TestMode)
	e := gin.New()
	e.Use(
		gin.CustomRecovery(func(c *gin.Context, _ any) { c.AbortWithStatus(http.StatusInternalServerError) }),
		func(c *gin.Context) { c.Header(RequestIDHeader, "req-1"); c.Next() },
		o.handle,
	)
	routes(e)
	e.NoRoute(func(c *gin.Context) { c.JSON(http.StatusNotFound, gin.H{"success": false}) })
	return e
}

func enabledMetrics(t testing.TB) *metrics.Metrics {
	t.Helper()
	m, err := metrics.New(common.MetricsConfig{Enabled: true}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestResponseTimeHeader(t *testing.T) {
	clock := newStepClock()
	m := enabledMetrics(t)
	o := newObserver(m, common.MetricsConfig{}, clock.Now)
	// Each handler spends 12.5ms before its headers go out and 5s after.
	e := observedEngine(o, func(e *gin.Engine) {
		e.GET("/api/status", func(c *gin.Context) {
			clock.Advance(12500 * time.Microsecond)
			c.JSON(http.StatusOK, gin.H{"success": true})
		})
		e.POST("/v1/chat/completions", func(c *gin.Context) {
			clock.Advance(12500 * time.Microsecond)
			c.String(http.StatusOK, "{}")
		})
		e.POST("/v1/stream", func(c *gin.Context) {
			c.Header("Content-Type", "text/event-stream")
			clock.Advance(12500 * time.Microsecond)
			c.Writer.Flush()
			clock.Advance(5 * time.Second)
			c.Writer.WriteString("data: [DONE]\n\n")
		})
		e.POST("/v1/stream-written", func(c *gin.Context) {
			clock.Advance(12500 * time.Microsecond)
			c.Writer.WriteHeaderNow()
			clock.Advance(5 * time.Second)
			c.Writer.Write([]byte("data: {}\n\n"))
		})
		e.DELETE("/api/no-body", func(c *gin.Context) {
			// Gin writes these headers itself after the handlers return.
			c.Status(http.StatusNoContent)
			clock.Advance(12500 * time.Microsecond)
		})
		e.GET("/api/denied", func(c *gin.Context) {
			clock.Advance(12500 * time.Microsecond)
			c.AbortWithStatus(http.StatusUnauthorized)
		})
		e.GET("/api/panic", func(c *gin.Context) {
			clock.Advance(12500 * time.Microsecond)
			panic(errors.New("boom"))
		})
	})

	tests := []struct {
		name, method, path string
		status             int
	}{
		{"api", http.MethodGet, "/api/status", 200},
		{"relay", http.MethodPost, "/v1/chat/completions", 200},
		{"stream flushed", http.MethodPost, "/v1/stream", 200},
		{"stream written", http.MethodPost, "/v1/stream-written", 200},
		{"no body", http.MethodDelete, "/api/no-body", 204},
		{"aborted", http.MethodGet, "/api/denied", 401},
		{"panic", http.MethodGet, "/api/panic", 500},
		{"404 api", http.MethodGet, "/api/nowhere", 404},
		{"404 relay", http.MethodPost, "/v1/nowhere", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			// Result().Header is the header as of WriteHeader, so this also
			// checks the header went out with the response.
			res := rec.Result()
			if res.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.status)
			}
			want := "12.50"
			if strings.Contains(tt.path, "nowhere") {
				want = "0.00" // the fake clock did not move
			}
			if got := res.Header.Get(ResponseTimeHeader); got != want {
				t.Errorf("%s = %q, want %q", ResponseTimeHeader, got, want)
			}
		})
	}
	if got := m.Window.Snapshot().InFlight; got != 0 {
		t.Errorf("in flight after all requests = %d, want 0", got)
	}
}

// TestStreamHeaderBeforeBody checks on a real connection that a stream's
// header reaches the client while the handler is still running.
func TestStreamHeaderBeforeBody(t *testing.T) {
	o := newObserver(nil, common.MetricsConfig{}, time.Now)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	deadlineErr := make(chan error, 1)
	e := observedEngine(o, func(e *gin.Engine) {
		e.GET("/v1/stream", func(c *gin.Context) {
			// The relay sets write deadlines through the wrapper.
			rc := http.NewResponseController(c.Writer)
			deadlineErr <- rc.SetWriteDeadline(time.Now().Add(time.Minute))
			c.Header("Content-Type", "text/event-stream")
			c.Writer.WriteString("data: first\n\n")
			rc.Flush()
			<-release
			c.Writer.WriteString("data: [DONE]\n\n")
		})
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	defer unblock() // before srv.Close, which waits for the handler

	res, err := http.Get(srv.URL + "/v1/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	v := res.Header.Get(ResponseTimeHeader)
	if !regexp.MustCompile(`^\d+\.\d\d$`).MatchString(v) {
		t.Errorf("%s = %q while the stream is open, want ms with two decimals", ResponseTimeHeader, v)
	}
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Errorf("first line = %q, %v; want the first event before the end", line, err)
	}
	unblock()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		t.Errorf("read rest of stream: %v", err)
	}
	if err := <-deadlineErr; err != nil {
		t.Errorf("SetWriteDeadline through the wrapper: %v", err)
	}
}

func TestRequestInfoOnlyForRelay(t *testing.T) {
	tests := []struct {
		name     string
		m        bool
		slow     time.Duration
		path     string
		wantInfo bool
	}{
		{"relay with metrics", true, 0, "/v1/chat/completions", true},
		{"relay with slow log only", false, time.Second, "/v1/chat/completions", true},
		{"relay with neither", false, 0, "/v1/chat/completions", false},
		{"admin api", true, time.Second, "/api/status", false},
		{"bare v1", true, time.Second, "/v1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m *metrics.Metrics
			if tt.m {
				m = enabledMetrics(t)
			}
			o := newObserver(m, common.MetricsConfig{SlowRequestThreshold: tt.slow}, time.Now)
			var gotInfo bool
			e := observedEngine(o, func(e *gin.Engine) {
				e.Any(tt.path, func(c *gin.Context) {
					gotInfo = metrics.RequestInfoFrom(c.Request.Context()) != nil
					c.Status(http.StatusOK)
				})
			})
			e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, tt.path, nil))
			if gotInfo != tt.wantInfo {
				t.Errorf("RequestInfo in context = %v, want %v", gotInfo, tt.wantInfo)
			}
		})
	}
}

func TestRecordsSamples(t *testing.T) {
	clock := newStepClock()
	m := enabledMetrics(t)
	o := newObserver(m, common.MetricsConfig{}, clock.Now)
	e := observedEngine(o, func(e *gin.Engine) {
		e.POST("/v1/chat/completions", func(c *gin.Context) {
			info := metrics.RequestInfoFrom(c.Request.Context())
			info.Model, info.ChannelID, info.Stream = "gpt-4o", 3, true
			info.TTFT, info.Upstream = 100*time.Millisecond, 380*time.Millisecond
			clock.Advance(400 * time.Millisecond)
			c.String(http.StatusOK, "data: [DONE]\n\n")
		})
		e.GET("/api/status", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{}) })
	})
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, "/v1/chat/completions"},
		{http.MethodPost, "/v1/chat/completions?api-version=1"},
		{http.MethodGet, "/api/status"},
		{http.MethodGet, "/v1/models/secret-looking-path"},
	} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(r.method, r.path, nil))
	}

	s := m.Window.Snapshot()
	counts := []struct {
		name      string
		got, want int64
	}{
		{"total (relay only)", s.TotalRequests, 3},
		{"client errors (the 404)", s.ClientErrors, 1},
		{"streaming", s.StreamingRequests, 2},
		{"in flight", s.InFlight, 0},
	}
	for _, c := range counts {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if g, w := s.AvgTTFT, 100*time.Millisecond; g != w {
		t.Errorf("avg ttft = %v, want %v", g, w)
	}

	rec := httptest.NewRecorder()
	m.Prom.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	got := map[string]float64{}
	for _, mt := range fams["oneapi_requests_total"].GetMetric() {
		var key []string
		for _, l := range mt.GetLabel() {
			key = append(key, l.GetName()+"="+l.GetValue())
		}
		got[strings.Join(key, ",")] = mt.GetCounter().GetValue()
	}
	want := map[string]float64{
		"channel=3,method=POST,model=gpt-4o,route=/v1/chat/completions,status_class=2xx": 2,
		"channel=0,method=GET,model=,route=/api/status,status_class=2xx":                 1,
		"channel=0,method=GET,model=,route=unmatched,status_class=4xx":                   1,
	}
	if len(got) != len(want) {
		t.Errorf("oneapi_requests_total series = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("oneapi_requests_total{%s} = %v, want %v", k, got[k], v)
		}
	}
}

func TestSlowRequestLog(t *testing.T) {
	tests := []struct {
		name      string
		threshold time.Duration
		took      time.Duration
		path      string
		model     string
		want      string // "" = no slow line
	}{
		{"above", 3 * time.Second, 3200 * time.Millisecond, "/v1/chat/completions", "gpt-4o",
			"slow request: method=POST path=/v1/chat/completions status=200 duration=3.2s model=gpt-4o channel=3 request_id=req-1"},
		{"query string and odd model", 3 * time.Second, 4 * time.Second, "/v1/chat/completions?key=sk-secret", "gpt 4o\n[ERR] forged",
			`slow request: method=POST path=/v1/chat/completions status=200 duration=4s model="gpt 4o\n[ERR] forged" channel=3 request_id=req-1`},
		{"equal is not above", 3 * time.Second, 3 * time.Second, "/v1/chat/completions", "gpt-4o", ""},
		{"below", 3 * time.Second, 2900 * time.Millisecond, "/v1/chat/completions", "gpt-4o", ""},
		{"threshold 0 is off", 0, time.Hour, "/v1/chat/completions", "gpt-4o", ""},
		{"admin api has no model", time.Second, 2 * time.Second, "/api/status", "",
			"slow request: method=POST path=/api/status status=200 duration=2s model=- channel=- request_id=req-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := captureObserveLog(t)
			clock := newStepClock()
			o := newObserver(nil, common.MetricsConfig{SlowRequestThreshold: tt.threshold}, clock.Now)
			e := observedEngine(o, func(e *gin.Engine) {
				e.POST(strings.SplitN(tt.path, "?", 2)[0], func(c *gin.Context) {
					if info := metrics.RequestInfoFrom(c.Request.Context()); info != nil {
						info.Model, info.ChannelID = tt.model, 3
					}
					clock.Advance(tt.took)
					c.String(http.StatusOK, "ok")
				})
			})
			req := httptest.NewRequest(http.MethodPost, tt.path, nil)
			req.Header.Set("Authorization", "Bearer sk-secret")
			e.ServeHTTP(httptest.NewRecorder(), req)

			lines := grepLog(buf, "slow request")
			if tt.want == "" {
				if len(lines) != 0 {
					t.Errorf("got slow lines %q, want none", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("got slow lines %q, want one", lines)
			}
			if g, w := lines[0], "[WARN] "+tt.want; g != w {
				t.Errorf("slow line = %q, want %q", g, w)
			}
			if strings.Contains(strings.Join(buf.Lines(), "\n"), "sk-secret") {
				t.Error("log contains the query string or the Authorization header")
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	lineRE := regexp.MustCompile(`^\[INFO\] 200 \| POST /v1/a%0A%5BERR%5D%20b \| 192\.0\.2\.1 \| request_id=req-1 \| X-Response-Time 5012\.50$`)
	tests := []struct {
		name   string
		access bool
	}{
		{"on", true},
		{"off", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := captureObserveLog(t)
			clock := newStepClock()
			o := newObserver(enabledMetrics(t), common.MetricsConfig{AccessLog: tt.access}, clock.Now)
			e := observedEngine(o, func(e *gin.Engine) {
				e.POST("/v1/*any", func(c *gin.Context) {
					clock.Advance(12500 * time.Microsecond)
					c.Writer.Flush()
					clock.Advance(5 * time.Second)
					c.String(http.StatusOK, "ok")
				})
			})
			// A decoded newline in the path must not split the line.
			req := httptest.NewRequest(http.MethodPost, "/v1/a%0A%5BERR%5D%20b?key=sk-secret", nil)
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)

			lines := grepLog(buf, "X-Response-Time")
			if !tt.access {
				if len(lines) != 0 {
					t.Errorf("got access lines %q with ACCESS_LOG_ENABLED=false", lines)
				}
				return
			}
			if len(lines) != 1 || len(buf.Lines()) != 1 {
				t.Fatalf("log = %q, want exactly one access line", buf.Lines())
			}
			if !lineRE.MatchString(lines[0]) {
				t.Errorf("access line = %q, want it to match %s", lines[0], lineRE)
			}
			// The seed's recipe: grep X-Response-Time | awk '{print $NF}'.
			fields := strings.Fields(lines[0])
			if g, w := fields[len(fields)-1], "5012.50"; g != w {
				t.Errorf("last field = %q, want %q (the whole request, not time to headers)", g, w)
			}
			if g, w := rec.Header().Get(ResponseTimeHeader), "12.50"; g != w {
				t.Errorf("header = %q, want %q", g, w)
			}
		})
	}
}

func TestAppendValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "-"},
		{"gpt-4o-mini", "gpt-4o-mini"},
		{"a b", `"a b"`},
		{"a\nb", `"a\nb"`},
		{`a"b`, `"a\"b"`},
		{"模型", `"模型"`},
	}
	for _, tt := range tests {
		if got := string(appendValue(nil, tt.in)); got != tt.want {
			t.Errorf("appendValue(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
