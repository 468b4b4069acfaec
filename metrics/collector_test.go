package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// within reports whether got is within HDR's three-significant-figure
// precision of want.
func within(got, want time.Duration) bool {
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return diff <= want/1000+time.Microsecond
}

// scriptedMix records 100 relay requests taking 1ms..100ms, of which 5 fail
// with a 5xx and 10 are streams with TTFT 10ms..100ms, each spending all but
// 2ms upstream; plus non-relay requests the window must ignore.
func scriptedMix(c *Collector) {
	for i := 1; i <= 100; i++ {
		s := &Sample{
			Route:       "/v1/chat/completions",
			Method:      "POST",
			Status:      200,
			Relay:       true,
			Duration:    time.Duration(i) * time.Millisecond,
			RequestInfo: RequestInfo{Upstream: time.Duration(i)*time.Millisecond - 2*time.Millisecond},
		}
		if i%20 == 0 {
			s.Status = 502
		}
		if i <= 10 {
			s.Stream = true
			s.TTFT = time.Duration(i) * 10 * time.Millisecond
		}
		c.Record(s)
	}
	for range 7 {
		c.Record(&Sample{Route: "/api/status", Method: "GET", Status: 500, Duration: time.Second})
	}
}

func TestScriptedMix(t *testing.T) {
	c := NewCollector(WithClock(newFakeClock().Now))
	scriptedMix(c)
	s := c.Snapshot()

	counts := []struct {
		name      string
		got, want int64
	}{
		{"total", s.TotalRequests, 100},
		{"failed", s.FailedRequests, 5},
		{"client errors", s.ClientErrors, 0},
		{"streaming", s.StreamingRequests, 10},
	}
	for _, tc := range counts {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	if g, w := s.SuccessRate, 95.0; g != w {
		t.Errorf("success_rate = %v, want %v", g, w)
	}
	exact := []struct {
		name      string
		got, want time.Duration
	}{
		{"average", s.AverageDuration, 50500 * time.Microsecond},
		{"avg ttft", s.AvgTTFT, 55 * time.Millisecond},
	}
	for _, tc := range exact {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	approx := []struct {
		name      string
		got, want time.Duration
	}{
		{"p50", s.P50Latency, 50 * time.Millisecond},
		{"p95", s.P95Latency, 95 * time.Millisecond},
		{"p99", s.P99Latency, 99 * time.Millisecond},
		{"overhead p50", s.OverheadP50, 2 * time.Millisecond},
		{"overhead p99", s.OverheadP99, 2 * time.Millisecond},
	}
	for _, tc := range approx {
		if !within(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v within 0.1%%", tc.name, tc.got, tc.want)
		}
	}
}

func TestStatusClassification(t *testing.T) {
	tests := []struct {
		name                 string
		sample               Sample
		failed, clientErrors int64
	}{
		{"2xx", Sample{Status: 200}, 0, 0},
		{"4xx is a client error, not a failure", Sample{Status: 429}, 0, 1},
		{"5xx fails", Sample{Status: 503}, 1, 0},
		{"relay error fails whatever the status", Sample{Status: 400, RequestInfo: RequestInfo{RelayError: true}}, 1, 0},
		{"relay error on 200", Sample{Status: 200, RequestInfo: RequestInfo{RelayError: true}}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCollector()
			s := tt.sample
			s.Relay = true
			c.Record(&s)
			snap := c.Snapshot()
			if g, w := snap.FailedRequests, tt.failed; g != w {
				t.Errorf("failed = %d, want %d", g, w)
			}
			if g, w := snap.ClientErrors, tt.clientErrors; g != w {
				t.Errorf("client errors = %d, want %d", g, w)
			}
			if g, w := snap.SuccessRate, float64(100*(1-tt.failed)); g != w {
				t.Errorf("success_rate = %v, want %v", g, w)
			}
		})
	}
}

func TestResetZeroesWindow(t *testing.T) {
	clock := newFakeClock()
	c := NewCollector(WithClock(clock.Now))
	scriptedMix(c)
	c.RecordDB(time.Millisecond)
	c.Begin()
	clock.Advance(time.Hour)
	c.Reset()

	s := c.Snapshot()
	want := Snapshot{
		SuccessRate: 100,
		WindowStart: clock.Now(),
		Uptime:      time.Hour,
		InFlight:    1, // in-flight requests outlive the window
	}
	if s != want {
		t.Errorf("after reset:\n got %+v\nwant %+v", s, want)
	}
}

func TestRunTicksResets(t *testing.T) {
	clock := newFakeClock()
	c := NewCollector(WithClock(clock.Now))
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.RunTicks(ctx, ticks)
	}()

	scriptedMix(c)
	clock.Advance(time.Hour)
	ticks <- clock.Now()
	// The tick was taken, so its Reset finishes before ctx is looked at again.
	cancel()
	<-done

	s := c.Snapshot()
	if s.TotalRequests != 0 || !s.WindowStart.Equal(clock.Now()) {
		t.Errorf("after tick: total = %d, window start = %v; want 0, %v", s.TotalRequests, s.WindowStart, clock.Now())
	}
}

func TestRunZeroIntervalNeverResets(t *testing.T) {
	c := NewCollector()
	scriptedMix(c)
	c.Run(context.Background(), 0) // returns at once instead of blocking
	if g, w := c.Snapshot().TotalRequests, int64(100); g != w {
		t.Errorf("total = %d, want %d", g, w)
	}
}

func TestDBStatements(t *testing.T) {
	c := NewCollector()
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 6 * time.Millisecond} {
		c.RecordDB(d)
	}
	s := c.Snapshot()
	if g, w := s.DBQueryCount, int64(3); g != w {
		t.Errorf("db_query_count = %d, want %d", g, w)
	}
	if g, w := s.DBAvgDuration, 3*time.Millisecond; g != w {
		t.Errorf("db_avg_duration = %v, want %v", g, w)
	}
}

func TestSources(t *testing.T) {
	var hits, misses uint64 = 100, 50
	c := NewCollector()
	c.SetSources(Sources{
		LogQueueDepth: func() int { return 7 },
		CacheHits:     func() uint64 { return hits },
		CacheMisses:   func() uint64 { return misses },
	})
	hits, misses = 130, 60 // 30 hits and 10 misses in this window

	s := c.Snapshot()
	if s.LogQueueDepth != 7 || s.CacheHits != 30 || s.CacheMisses != 10 || s.CacheHitRate != 75 {
		t.Errorf("got depth %d, hits %d, misses %d, rate %v; want 7, 30, 10, 75",
			s.LogQueueDepth, s.CacheHits, s.CacheMisses, s.CacheHitRate)
	}

	c.Reset()
	hits = 131
	s = c.Snapshot()
	if s.CacheHits != 1 || s.CacheMisses != 0 || s.CacheHitRate != 100 {
		t.Errorf("after reset: hits %d, misses %d, rate %v; want 1, 0, 100", s.CacheHits, s.CacheMisses, s.CacheHitRate)
	}

	hits = 0 // the cache was replaced: no negative deltas
	if g := c.Snapshot().CacheHits; g != 0 {
		t.Errorf("hits after counter went backwards = %d, want 0", g)
	}
}

func TestConcurrentRecord(t *testing.T) {
	c := NewCollector()
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				c.Begin()
				c.Record(&Sample{Relay: true, Status: 200 + 300*(i%2), Duration: time.Duration(w*each+i) * time.Microsecond})
				c.RecordDB(time.Microsecond)
				c.End()
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			c.Snapshot()
		}
	})
	wg.Wait()

	s := c.Snapshot()
	if g, w := s.TotalRequests, int64(workers*each); g != w {
		t.Errorf("total = %d, want %d", g, w)
	}
	if g, w := s.FailedRequests, int64(workers*each/2); g != w {
		t.Errorf("failed = %d, want %d", g, w)
	}
	if g, w := s.DBQueryCount, int64(workers*each); g != w {
		t.Errorf("db count = %d, want %d", g, w)
	}
	if s.InFlight != 0 {
		t.Errorf("in flight = %d, want 0", s.InFlight)
	}
}

func TestHugeAndNegativeDurationsAreClamped(t *testing.T) {
	c := NewCollector()
	c.Record(&Sample{Relay: true, Status: 200, Duration: time.Hour, RequestInfo: RequestInfo{Upstream: 2 * time.Hour}})
	s := c.Snapshot()
	if !within(s.P99Latency, 10*time.Minute) {
		t.Errorf("p99 = %v, want the 10m ceiling", s.P99Latency)
	}
	if s.OverheadP99 != 0 {
		t.Errorf("overhead p99 = %v, want 0", s.OverheadP99)
	}
}

// TestSnapshotJSON pins the /api/metrics/ data shape: the spec's keys with
// their JSON types, then the whole document against a golden file.
func TestSnapshotJSON(t *testing.T) {
	clock := newFakeClock()
	c := NewCollector(WithClock(clock.Now))
	scriptedMix(c)
	c.RecordDB(1234 * time.Microsecond)
	c.Begin()
	clock.Advance(90 * time.Minute)

	got, err := json.MarshalIndent(c.Snapshot(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}

	var doc map[string]any
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	spec := map[string]string{
		"total_requests": "number", "failed_requests": "number", "success_rate": "number",
		"average_duration": "duration", "p50_latency": "duration", "p95_latency": "duration",
		"p99_latency": "duration", "db_query_count": "number", "db_avg_duration": "duration",
		"streaming_requests": "number", "avg_ttft": "duration",
		"client_errors": "number", "overhead_p50": "duration", "overhead_p99": "duration",
		"window_start": "time", "uptime": "duration", "in_flight": "number",
		"log_queue_depth": "number", "cache_hits": "number", "cache_misses": "number", "cache_hit_rate": "number",
	}
	for key, kind := range spec {
		v, ok := doc[key]
		if !ok {
			t.Errorf("key %q missing", key)
			continue
		}
		switch kind {
		case "number":
			if _, ok := v.(float64); !ok {
				t.Errorf("%s = %#v, want a number", key, v)
			}
		case "duration":
			s, _ := v.(string)
			if _, err := time.ParseDuration(s); err != nil {
				t.Errorf("%s = %#v, want a Go duration string", key, v)
			}
		case "time":
			s, _ := v.(string)
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				t.Errorf("%s = %#v, want RFC 3339", key, v)
			}
		}
	}
	if len(doc) != len(spec) {
		t.Errorf("%d keys, want %d: update the spec table and docs/metrics.md together", len(doc), len(spec))
	}
	if !bytes.Contains(got, []byte(`"success_rate": 95.00,`)) {
		t.Errorf("success_rate not printed with two decimals:\n%s", got)
	}

	golden := filepath.Join("testdata", "snapshot.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Errorf("snapshot JSON differs from %s (go test -update to accept):\n got %s\nwant %s", golden, got, want)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"},
		{850 * time.Microsecond, "850µs"},
		{45678 * time.Nanosecond, "45.7µs"},
		{1234567 * time.Nanosecond, "1.23ms"},
		{145 * time.Millisecond, "145ms"},
		{120063 * time.Microsecond, "120ms"},
		{2345678 * time.Microsecond, "2.35s"},
		{90 * time.Second, "1m30s"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.in); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPercent(t *testing.T) {
	tests := []struct {
		part, whole int64
		want        float64
	}{
		{0, 0, 100},
		{95, 100, 95},
		{12427, 12450, 99.82},
		{2, 3, 66.67},
	}
	for _, tt := range tests {
		if got := percent(tt.part, tt.whole, 100); got != tt.want {
			t.Errorf("percent(%d, %d) = %v, want %v", tt.part, tt.whole, got, tt.want)
		}
	}
}

func TestRequestInfoContext(t *testing.T) {
	ctx := context.Background()
	if RequestInfoFrom(ctx) != nil {
		t.Fatal("RequestInfoFrom(empty ctx) != nil")
	}
	info := &RequestInfo{Model: "gpt-4o", ChannelID: 3, Stream: true, TTFT: time.Second, Quota: 42, RelayError: true}
	if got := RequestInfoFrom(WithRequestInfo(ctx, info)); got != info {
		t.Fatalf("RequestInfoFrom = %p, want %p", got, info)
	}

	s := Sample{Route: "/v1/chat/completions", Status: 200}
	s.AddInfo(info)
	s.AddInfo(nil)
	if s.Model != "gpt-4o" || s.ChannelID != 3 || !s.Stream || s.TTFT != time.Second || s.Quota != 42 || !s.RelayError {
		t.Errorf("AddInfo: got %+v", s)
	}
}

func TestNilMetricsIsNoOp(t *testing.T) {
	var m *Metrics
	m.Begin()
	m.Record(&Sample{Relay: true})
	m.RecordDB("query", time.Millisecond)
	m.LogFlush(10, nil)
	m.SetSources(Sources{})
	m.Run(context.Background(), time.Second)
	m.End()

	half := &Metrics{Window: NewCollector()} // Prometheus off
	half.Begin()
	half.Record(&Sample{Relay: true, Status: 200})
	half.RecordDB("query", time.Millisecond)
	half.LogFlush(1, nil)
	half.End()
	if g := half.Window.Snapshot().TotalRequests; g != 1 {
		t.Errorf("total = %d, want 1", g)
	}
}
