package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"one-api/common"
)

// roundTripFunc is a fake upstream transport.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// TestUpstreamAttempts: each attempt of a relay request is counted under
// its channel and outcome; requests without a RequestInfo (channel tests)
// are not.
func TestUpstreamAttempts(t *testing.T) {
	m, err := New(common.MetricsConfig{Enabled: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	answer := func(status int, err error) http.RoundTripper {
		return roundTripFunc(func(*http.Request) (*http.Response, error) {
			if err != nil {
				return nil, err
			}
			return &http.Response{StatusCode: status, Body: http.NoBody}, nil
		})
	}
	tests := []struct {
		channel int
		next    http.RoundTripper
		cancel  bool
		want    string
	}{
		{1, answer(200, nil), false, Outcome2xx},
		{1, answer(401, nil), false, Outcome4xx},
		{1, answer(429, nil), false, Outcome429},
		{2, answer(503, nil), false, Outcome5xx},
		{2, answer(0, timeoutErr{}), false, OutcomeTimeout},
		{2, answer(0, errors.New("connection refused")), false, OutcomeError},
		{2, answer(0, context.Canceled), true, OutcomeCanceled},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithCancel(context.Background())
		if tt.cancel {
			cancel()
		}
		info := &RequestInfo{ChannelID: tt.channel, Attempts: 1}
		req := httptest.NewRequest(http.MethodPost, "http://up/v1/chat/completions", nil).WithContext(WithRequestInfo(ctx, info))
		_, _ = m.Transport(tt.next).RoundTrip(req)
		cancel()
	}
	// A channel test: no RequestInfo, not counted.
	_, _ = m.Transport(answer(500, nil)).RoundTrip(httptest.NewRequest(http.MethodPost, "http://up/", nil))

	fams := scrape(t, m.Prom)
	total := 0.0
	for _, tt := range tests {
		c := find(fams, "oneapi_upstream_attempts_total", map[string]string{"channel": itoa(tt.channel), "outcome": tt.want})
		if c == nil || counterValue(c) != 1 {
			t.Errorf("channel %d outcome %s: %v, want 1", tt.channel, tt.want, c)
		}
	}
	for _, mm := range fams["oneapi_upstream_attempts_total"].Metric {
		total += counterValue(mm)
	}
	if total != float64(len(tests)) {
		t.Errorf("%v attempts counted, want %d", total, len(tests))
	}
	if got := len(fams["oneapi_upstream_attempts_total"].Metric); got != 2*outcomeCount {
		t.Errorf("%d series, want %d (every outcome of both channels, so ratios have a denominator)", got, 2*outcomeCount)
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestAlertingSeries(t *testing.T) {
	m, err := New(common.MetricsConfig{Enabled: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, m.Prom)
	if fams["oneapi_redis_up"] != nil {
		t.Error("oneapi_redis_up exported without Redis configured")
	}
	redisErr := errors.New("down")
	m.SetSources(Sources{LogQueueCapacity: func() int { return 1000 }, RedisPing: func(context.Context) error { return redisErr }})
	m.ChannelDisabled(7)
	m.QuotaFlush(3, nil)
	m.QuotaFlush(3, errors.New("database is locked"))

	fams = scrape(t, m.Prom)
	checks := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"oneapi_channel_auto_disabled_total", map[string]string{"channel": "7"}, 1},
		{"oneapi_quota_batch_flushes_total", nil, 2},
		{"oneapi_quota_batch_flush_errors_total", nil, 1},
		{"oneapi_log_batch_queue_capacity", nil, 1000},
		{"oneapi_redis_up", nil, 0},
	}
	for _, c := range checks {
		mm := find(fams, c.name, c.labels)
		if mm == nil {
			t.Errorf("%s%v missing", c.name, c.labels)
			continue
		}
		got := counterValue(mm)
		if mm.Gauge != nil {
			got = gaugeValue(mm)
		}
		if got != c.value {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.value)
		}
	}
	redisErr = nil
	if mm := find(scrape(t, m.Prom), "oneapi_redis_up", nil); mm == nil || gaugeValue(mm) != 1 {
		t.Errorf("oneapi_redis_up after Redis came back: %v, want 1", mm)
	}
}

// BenchmarkUpstreamAttempt: counting an attempt allocates nothing once the
// channel's counters exist.
func BenchmarkUpstreamAttempt(b *testing.B) {
	p, err := NewPrometheus(nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	p.UpstreamAttempt(3, Outcome2xx)
	b.ReportAllocs()
	for b.Loop() {
		p.UpstreamAttempt(3, Outcome2xx)
	}
	if a := testing.AllocsPerRun(100, func() { p.UpstreamAttempt(3, Outcome5xx) }); a != 0 {
		b.Errorf("%v allocations per attempt, want 0", a)
	}

}
