package router

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"one-api/common"
	"one-api/controller"
	"one-api/metrics"
	"one-api/middleware"
)

const testAdminToken = "test-admin"

// fakeAdminAuth stands in for the admin API's access-token check.
func fakeAdminAuth(c *gin.Context) {
	if c.GetHeader("Authorization") != "Bearer "+testAdminToken {
		c.AbortWithStatusJSON(http.StatusUnauthorized, controller.Envelope{Message: "unauthorized"})
		return
	}
	c.Next()
}

// metricsEngine is the gateway's engine reduced to the metrics routes and a
// relay route that feeds them.
func metricsEngine(t *testing.T, public bool) (*gin.Engine, *metrics.Metrics) {
	t.Helper()
	cfg := common.MetricsConfig{Enabled: true, Public: public}
	m, err := metrics.New(cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := controller.NewMetrics(m)
	e := New(Deps{
		GinMode: gin.TestMode,
		Global:  []gin.HandlerFunc{middleware.Observe(m, cfg)},
		Register: []func(*gin.Engine){
			func(e *gin.Engine) {
				RegisterMetrics(e, e.Group("/api", fakeAdminAuth), h, fakeAdminAuth, cfg.Public)
				e.POST("/v1/chat/completions", func(c *gin.Context) {
					info := metrics.RequestInfoFrom(c.Request.Context())
					info.Model, info.ChannelID = "gpt-4o", 3
					c.JSON(http.StatusOK, gin.H{"id": "chatcmpl-1"})
				})
			},
		},
	})
	return e, m
}

func metricsRequest(e *gin.Engine, method, path string, auth bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if auth {
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func TestMetricsRoutesAuth(t *testing.T) {
	tests := []struct {
		name         string
		public       bool
		method, path string
		auth         bool
		want         int
	}{
		{"api no token", false, http.MethodGet, "/api/metrics/", false, 401},
		{"api no slash no token", false, http.MethodGet, "/api/metrics", false, 401},
		{"reset no token", false, http.MethodPost, "/api/metrics/reset", false, 401},
		{"scrape no token", false, http.MethodGet, "/metrics", false, 401},
		{"api", false, http.MethodGet, "/api/metrics/", true, 200},
		{"api no slash", false, http.MethodGet, "/api/metrics", true, 200},
		{"reset", false, http.MethodPost, "/api/metrics/reset", true, 200},
		{"history no token", false, http.MethodGet, "/api/metrics/history", false, 401},
		{"history", false, http.MethodGet, "/api/metrics/history", true, 200},
		{"scrape", false, http.MethodGet, "/metrics", true, 200},
		{"public scrape", true, http.MethodGet, "/metrics", false, 200},
		{"public keeps api private", true, http.MethodGet, "/api/metrics/", false, 401},
		{"public keeps reset private", true, http.MethodPost, "/api/metrics/reset", false, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := metricsEngine(t, tt.public)
			rec := metricsRequest(e, tt.method, tt.path, tt.auth)
			if rec.Code != tt.want {
				t.Fatalf("%s %s = %d, want %d: %s", tt.method, tt.path, rec.Code, tt.want, rec.Body)
			}
			if rec.Code == http.StatusUnauthorized && !bytes.Contains(rec.Body.Bytes(), []byte(`"success":false`)) {
				t.Errorf("401 body = %s, want the envelope", rec.Body)
			}
			if rec.Header().Get(middleware.ResponseTimeHeader) == "" {
				t.Errorf("no %s header", middleware.ResponseTimeHeader)
			}
		})
	}
}

func TestAPIMetricsShape(t *testing.T) {
	e, _ := metricsEngine(t, false)
	for range 3 {
		metricsRequest(e, http.MethodPost, "/v1/chat/completions", false)
	}
	rec := metricsRequest(e, http.MethodGet, "/api/metrics/", true)

	var env struct {
		Success bool                       `json:"success"`
		Message *string                    `json:"message"`
		Data    map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	if !env.Success || env.Message == nil || *env.Message != "" {
		t.Fatalf("envelope = %s, want success with an empty message", rec.Body)
	}

	integer := regexp.MustCompile(`^\d+$`)
	twoDecimals := regexp.MustCompile(`^\d+\.\d\d$`)
	duration := func(raw json.RawMessage) bool {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return false
		}
		_, err := time.ParseDuration(s)
		return err == nil
	}
	// The spec's keys and types; more keys are allowed.
	kinds := map[string]func(json.RawMessage) bool{
		"total_requests":     func(r json.RawMessage) bool { return string(r) == "3" },
		"failed_requests":    func(r json.RawMessage) bool { return string(r) == "0" },
		"success_rate":       func(r json.RawMessage) bool { return string(r) == "100.00" },
		"average_duration":   duration,
		"p50_latency":        duration,
		"p95_latency":        duration,
		"p99_latency":        duration,
		"db_query_count":     func(r json.RawMessage) bool { return integer.Match(r) },
		"db_avg_duration":    duration,
		"streaming_requests": func(r json.RawMessage) bool { return string(r) == "0" },
		"avg_ttft":           duration,
		"cache_hit_rate":     func(r json.RawMessage) bool { return twoDecimals.Match(r) },
		"in_flight":          func(r json.RawMessage) bool { return string(r) == "1" }, // this request
	}
	for k, ok := range kinds {
		raw, present := env.Data[k]
		if !present {
			t.Errorf("data.%s missing", k)
			continue
		}
		if !ok(raw) {
			t.Errorf("data.%s = %s, wrong type or value", k, raw)
		}
	}
}

func TestAPIMetricsReset(t *testing.T) {
	e, m := metricsEngine(t, false)
	metricsRequest(e, http.MethodPost, "/v1/chat/completions", false)
	if g := m.Window.Snapshot().TotalRequests; g != 1 {
		t.Fatalf("total before reset = %d, want 1", g)
	}
	if rec := metricsRequest(e, http.MethodPost, "/api/metrics/reset", true); !bytes.Contains(rec.Body.Bytes(), []byte(`"success":true`)) {
		t.Fatalf("reset = %s, want success", rec.Body)
	}
	rec := metricsRequest(e, http.MethodGet, "/api/metrics/", true)
	if !bytes.Contains(rec.Body.Bytes(), []byte(`"total_requests":0,`)) {
		t.Errorf("after reset: %s, want total_requests 0", rec.Body)
	}
}

func TestPrometheusScrape(t *testing.T) {
	e, _ := metricsEngine(t, false)
	metricsRequest(e, http.MethodPost, "/v1/chat/completions", false)
	rec := metricsRequest(e, http.MethodGet, "/metrics", true)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	for _, name := range []string{
		"oneapi_requests_total", "oneapi_request_duration_seconds", "oneapi_requests_in_flight",
		"oneapi_gateway_overhead_seconds", "go_goroutines",
	} {
		if fams[name] == nil {
			t.Errorf("series %s missing", name)
		}
	}
	var relay float64
	for _, mt := range fams["oneapi_requests_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range mt.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["route"] == "/v1/chat/completions" && labels["model"] == "gpt-4o" && labels["channel"] == "3" {
			relay += mt.GetCounter().GetValue()
		}
	}
	if relay != 1 {
		t.Errorf(`oneapi_requests_total{route="/v1/chat/completions",model="gpt-4o",channel="3"} = %v, want 1`, relay)
	}
}

// TestDocsNameRealSeries keeps docs/metrics.md and the Grafana dashboard in
// step with the exposition: every oneapi_ series they name exists, and
// metrics.md names every one that exists.
func TestDocsNameRealSeries(t *testing.T) {
	e, m := metricsEngine(t, false)
	// Give every labelled series a child, or it is not exposed.
	m.Record(&metrics.Sample{
		Route:       "/v1/chat/completions",
		Method:      "POST",
		Status:      200,
		Relay:       true,
		Duration:    time.Second,
		RequestInfo: metrics.RequestInfo{Stream: true, Upstream: 900 * time.Millisecond, TTFT: 100 * time.Millisecond, Model: "gpt-4o", ChannelID: 1, PromptTokens: 1, CompletionTokens: 1, Quota: 2},
	})
	m.RecordDB("query", time.Millisecond)
	m.LogFlush(1, nil)
	m.Prom.UpstreamAttempt(1, metrics.Outcome2xx)
	m.ChannelDisabled(1)
	m.SetSources(metrics.Sources{RedisPing: func(context.Context) error { return nil }})
	rec := metricsRequest(e, http.MethodGet, "/metrics", true)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}

	series := regexp.MustCompile(`oneapi_[a-z0-9_]+`)
	suffix := regexp.MustCompile(`_(bucket|sum|count)$`)
	named := func(path string) map[string]bool {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, s := range series.FindAllString(string(b), -1) {
			if fams[s] == nil {
				s = suffix.ReplaceAllString(s, "")
			}
			out[s] = true
		}
		return out
	}
	doc := named("../docs/metrics.md")
	for _, path := range []string{"../docs/metrics.md", "../docs/grafana/one-api.json"} {
		for s := range named(path) {
			if fams[s] == nil {
				t.Errorf("%s names %s, which /metrics does not expose", path, s)
			}
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, "oneapi_") && !doc[name] {
			t.Errorf("docs/metrics.md does not describe %s", name)
		}
	}
}

func TestAPIMetricsHistory(t *testing.T) {
	e, m := metricsEngine(t, false)
	metricsRequest(e, http.MethodPost, "/v1/chat/completions", false)
	metricsRequest(e, http.MethodPost, "/v1/chat/completions", false)
	m.History.Tick()
	metricsRequest(e, http.MethodPost, "/v1/chat/completions", false)
	m.History.Tick()

	rec := metricsRequest(e, http.MethodGet, "/api/metrics/history", true)
	var env struct {
		Success bool `json:"success"`
		Data    struct {
			Interval string                       `json:"interval"`
			Points   []map[string]json.RawMessage `json:"points"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	if !env.Success || env.Data.Interval != metrics.HistoryInterval.String() {
		t.Fatalf("got %s, want success with interval %s", rec.Body, metrics.HistoryInterval)
	}
	var got []string
	for _, p := range env.Data.Points {
		got = append(got, string(p["total_requests"]))
		if _, ok := p["p99_latency"]; !ok {
			t.Errorf("point %v lacks the /api/metrics/ keys", p)
		}
	}
	if strings.Join(got, ",") != "2,1" {
		t.Errorf("total_requests per point = %v, want [2 1] (per interval, oldest first)", got)
	}
}
