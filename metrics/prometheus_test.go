package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape serves p's handler once and parses the text exposition.
func scrape(t *testing.T, p *Prometheus) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return families
}

// find returns the metric of family name whose labels include want.
func find(families map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := families[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func newTestPrometheus(t *testing.T, modelLimit int) *Prometheus {
	t.Helper()
	p, err := NewPrometheus(prometheus.NewRegistry(), modelLimit)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrometheusSeries(t *testing.T) {
	p := newTestPrometheus(t, 0)
	hits := uint64(9)
	p.SetSources(Sources{
		LogQueueDepth: func() int { return 4 },
		CacheHits:     func() uint64 { return hits },
		CacheMisses:   func() uint64 { return 1 },
	})
	for range 3 {
		p.Record(&Sample{
			Route:       "/v1/chat/completions",
			Method:      "POST",
			Status:      200,
			Relay:       true,
			Duration:    300 * time.Millisecond,
			RequestInfo: RequestInfo{Stream: true, Upstream: 290 * time.Millisecond, TTFT: 100 * time.Millisecond, Model: "gpt-4o", ChannelID: 7, PromptTokens: 10, CompletionTokens: 20, Quota: 30},
		})
	}
	p.Record(&Sample{Method: "BREW", Status: 404, Duration: time.Millisecond})
	p.RecordDB("query", time.Millisecond)
	p.LogFlush(50, nil)
	p.LogFlush(50, errors.New("database is locked"))
	p.Begin()

	fams := scrape(t, p)
	tests := []struct {
		name   string
		labels map[string]string
		value  func(*dto.Metric) float64
		want   float64
	}{
		{"oneapi_requests_total", map[string]string{"route": "/v1/chat/completions", "method": "POST",
			"status_class": "2xx", "model": "gpt-4o", "channel": "7"}, counterValue, 3},
		{"oneapi_requests_total", map[string]string{"route": "unmatched", "method": "OTHER",
			"status_class": "4xx", "model": "", "channel": "0"}, counterValue, 1},
		{"oneapi_request_duration_seconds", map[string]string{"route": "/v1/chat/completions", "status_class": "2xx"}, histCount, 3},
		{"oneapi_ttft_seconds", map[string]string{"model": "gpt-4o"}, histCount, 3},
		{"oneapi_upstream_duration_seconds", map[string]string{"model": "gpt-4o", "channel": "7"}, histCount, 3},
		{"oneapi_gateway_overhead_seconds", nil, histCount, 3},
		{"oneapi_db_statements_total", map[string]string{"op": "query"}, counterValue, 1},
		{"oneapi_db_statement_duration_seconds", map[string]string{"op": "query"}, histCount, 1},
		{"oneapi_log_batch_queue_depth", nil, gaugeValue, 4},
		{"oneapi_log_batch_flushes_total", nil, counterValue, 2},
		{"oneapi_log_batch_flush_errors_total", nil, counterValue, 1},
		{"oneapi_log_batch_rows_total", nil, counterValue, 50},
		{"oneapi_token_cache_hits_total", nil, counterValue, 9},
		{"oneapi_token_cache_misses_total", nil, counterValue, 1},
		{"oneapi_quota_consumed_total", map[string]string{"model": "gpt-4o", "channel": "7"}, counterValue, 90},
		{"oneapi_prompt_tokens_total", map[string]string{"model": "gpt-4o", "channel": "7"}, counterValue, 30},
		{"oneapi_completion_tokens_total", map[string]string{"model": "gpt-4o", "channel": "7"}, counterValue, 60},
		{"oneapi_requests_in_flight", nil, gaugeValue, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := find(fams, tt.name, tt.labels)
			if m == nil {
				t.Fatalf("no %s%v in the exposition", tt.name, tt.labels)
			}
			if got := tt.value(m); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
			}
		})
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("%s missing: Go/process collectors not registered", name)
		}
	}
}

func counterValue(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.GetUntyped().GetValue()
}

func gaugeValue(m *dto.Metric) float64 { return m.GetGauge().GetValue() }
func histCount(m *dto.Metric) float64  { return float64(m.GetHistogram().GetSampleCount()) }

func TestModelLabelCap(t *testing.T) {
	p := newTestPrometheus(t, 3)
	for i := range 50 {
		p.Record(&Sample{Route: "/v1/chat/completions", Method: "POST", Status: 200, RequestInfo: RequestInfo{Model: fmt.Sprintf("model-%d", i)}})
	}
	// A name seen before the cap keeps its label; junk never gets one.
	p.Record(&Sample{Route: "/v1/chat/completions", Method: "POST", Status: 200, RequestInfo: RequestInfo{Model: "model-1"}})
	p.Record(&Sample{Route: "/v1/chat/completions", Method: "POST", Status: 200, RequestInfo: RequestInfo{Model: "\xff\xfe"}})

	models := map[string]float64{}
	for _, m := range scrape(t, p)["oneapi_requests_total"].Metric {
		for _, l := range m.Label {
			if l.GetName() == "model" {
				models[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{"model-0": 1, "model-1": 2, "model-2": 1, OtherModel: 48}
	if len(models) != len(want) {
		t.Errorf("model label values = %v, want %v", models, want)
	}
	for k, v := range want {
		if models[k] != v {
			t.Errorf("requests with model=%q: got %v, want %v", k, models[k], v)
		}
	}
}

func TestModelLabelRejectsLongNames(t *testing.T) {
	m := newModelLabels(10)
	long := string(make([]byte, maxModelName+1))
	if got := m.label(long); got != OtherModel {
		t.Errorf("label(%d-byte name) = %q, want %q", len(long), got, OtherModel)
	}
	if got := m.label("gpt-4o"); got != "gpt-4o" {
		t.Errorf("label(gpt-4o) = %q after a rejected name, want it admitted", got)
	}
}

func TestNewPrometheusRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewPrometheus(reg, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPrometheus(reg, 0); err == nil {
		t.Error("second NewPrometheus on one registry succeeded, want a duplicate-registration error")
	}
}

func TestStatusClass(t *testing.T) {
	tests := map[int]string{0: "unknown", 101: "1xx", 200: "2xx", 304: "3xx", 499: "4xx", 504: "5xx", 600: "unknown"}
	for status, want := range tests {
		if got := statusClass(status); got != want {
			t.Errorf("statusClass(%d) = %q, want %q", status, got, want)
		}
	}
}
