package controller

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"one-api/common"
	"one-api/metrics"
)

// serveMetrics runs one request through h's handlers on a bare engine.
func serveMetrics(t *testing.T, h *Metrics, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	gin.SetMode(gin.TestMode)
	e := gin.New()
	e.GET("/api/metrics/", h.Get)
	e.POST("/api/metrics/reset", h.Reset)
	e.GET("/metrics", h.Prometheus)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func decodeEnvelope(t *testing.T, rec *httptest.ResponseRecorder) (env struct {
	Success bool
	Message string
	Data    map[string]any
}) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200: %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	return env
}

func TestMetricsDisabled(t *testing.T) {
	h := NewMetrics(nil)
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/api/metrics/"},
		{http.MethodPost, "/api/metrics/reset"},
	} {
		env := decodeEnvelope(t, serveMetrics(t, h, r.method, r.path))
		if env.Success || env.Message != "metrics are disabled (METRICS_ENABLED=false)" || env.Data != nil {
			t.Errorf("%s %s = %+v, want success=false with the disabled message", r.method, r.path, env)
		}
	}
	rec := serveMetrics(t, h, http.MethodGet, "/metrics")
	if rec.Code != http.StatusNotFound || rec.Body.String() != "metrics are disabled (METRICS_ENABLED=false)\n" {
		t.Errorf("GET /metrics = %d %q, want 404 with the disabled message", rec.Code, rec.Body)
	}
}

func TestMetricsGetAndReset(t *testing.T) {
	m, err := metrics.New(common.MetricsConfig{Enabled: true}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		m.Record(&metrics.Sample{Relay: true, Status: 200 + 300*(i/3), Duration: 100 * time.Millisecond})
	}
	h := NewMetrics(m)

	env := decodeEnvelope(t, serveMetrics(t, h, http.MethodGet, "/api/metrics/"))
	if !env.Success || env.Message != "" {
		t.Fatalf("GET /api/metrics/ = %+v, want success", env)
	}
	want := map[string]any{
		"total_requests":   4.0,
		"failed_requests":  1.0,
		"success_rate":     75.0,
		"average_duration": "100ms",
		"p50_latency":      "100ms",
	}
	for k, v := range want {
		if env.Data[k] != v {
			t.Errorf("data.%s = %v, want %v", k, env.Data[k], v)
		}
	}

	env = decodeEnvelope(t, serveMetrics(t, h, http.MethodPost, "/api/metrics/reset"))
	if !env.Success {
		t.Fatalf("POST /api/metrics/reset = %+v, want success", env)
	}
	if g := m.Window.Snapshot().TotalRequests; g != 0 {
		t.Errorf("total after reset = %d, want 0", g)
	}
}
