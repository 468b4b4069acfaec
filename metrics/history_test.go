package metrics

import (
	"context"
	"testing"
	"time"
)

// relaySample is a successful relay request of duration d.
func relaySample(d time.Duration) *Sample {
	return &Sample{Route: "/v1/chat/completions", Method: "POST", Status: 200, Relay: true, Duration: d}
}

func TestHistoryPointsArePerInterval(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	c := NewCollector(WithClock(clock.Now))
	h := NewHistory(c, 10*time.Second, 3)
	tick := func() {
		clock.Advance(10 * time.Second)
		h.Tick()
	}

	// Interval 1: 100 requests, 5 failed. Interval 2: one slow request and a
	// window reset, which must not touch the history. Interval 3: nothing.
	scriptedMix(c)
	tick()
	c.Record(relaySample(2 * time.Second))
	c.RecordDB(4 * time.Millisecond)
	c.Reset()
	tick()
	tick()

	pts := h.Points()
	if len(pts) != 3 {
		t.Fatalf("got %d points, want 3", len(pts))
	}
	tests := []struct {
		total, failed, db int64
		p99               time.Duration
		start             time.Time
	}{
		{100, 5, 0, 99 * time.Millisecond, start},
		{1, 0, 1, 2 * time.Second, start.Add(10 * time.Second)},
		{0, 0, 0, 0, start.Add(20 * time.Second)},
	}
	for i, want := range tests {
		p := pts[i]
		if p.TotalRequests != want.total || p.FailedRequests != want.failed || p.DBQueryCount != want.db {
			t.Errorf("point %d: total/failed/db = %d/%d/%d, want %d/%d/%d", i,
				p.TotalRequests, p.FailedRequests, p.DBQueryCount, want.total, want.failed, want.db)
		}
		// Two significant figures: within 1 %.
		if diff := p.P99Latency - want.p99; diff < -want.p99/100 || diff > want.p99/100 {
			t.Errorf("point %d: p99 = %v, want %v (the interval's own, not the window's)", i, p.P99Latency, want.p99)
		}
		if !p.WindowStart.Equal(want.start) {
			t.Errorf("point %d: start = %v, want %v", i, p.WindowStart, want.start)
		}
	}
	// The window kept its own count: reset during interval 2, nothing since.
	if s := c.Snapshot(); s.TotalRequests != 0 {
		t.Errorf("window total = %d, want 0 after its reset", s.TotalRequests)
	}
}

func TestHistoryKeepsTheLastN(t *testing.T) {
	clock := newFakeClock()
	c := NewCollector(WithClock(clock.Now))
	h := NewHistory(c, time.Second, 4)
	for i := 1; i <= 6; i++ {
		for range i {
			c.Record(relaySample(time.Millisecond))
		}
		clock.Advance(time.Second)
		h.Tick()
	}
	var got []int64
	for _, p := range h.Points() {
		got = append(got, p.TotalRequests)
	}
	want := []int64{3, 4, 5, 6}
	if len(got) != len(want) {
		t.Fatalf("points = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("points = %v, want %v (oldest first)", got, want)
		}
	}
}

func TestHistoryCacheCountsPerInterval(t *testing.T) {
	c := NewCollector()
	var hits, misses uint64
	c.SetSources(Sources{CacheHits: func() uint64 { return hits }, CacheMisses: func() uint64 { return misses }})
	h := NewHistory(c, time.Second, 10)
	hits, misses = 9, 1
	h.Tick()
	hits, misses = 10, 4
	h.Tick()
	pts := h.Points()
	if pts[0].CacheHits != 9 || pts[0].CacheMisses != 1 || pts[1].CacheHits != 1 || pts[1].CacheMisses != 3 {
		t.Errorf("cache hits/misses = %d/%d then %d/%d, want 9/1 then 1/3",
			pts[0].CacheHits, pts[0].CacheMisses, pts[1].CacheHits, pts[1].CacheMisses)
	}
}

func TestHistoryRunTicks(t *testing.T) {
	h := NewHistory(NewCollector(), time.Second, 10)
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.RunTicks(ctx, ticks) }()
	ticks <- time.Now()
	ticks <- time.Now() // taken only once the first tick's point is stored
	cancel()
	<-done
	if n := len(h.Points()); n != 2 {
		t.Errorf("got %d points after two ticks, want 2", n)
	}
}

func TestNilHistory(t *testing.T) {
	var h *History
	h.Tick()
	if h.Points() != nil || h.Interval() != 0 {
		t.Error("nil history is not empty")
	}
	var m *Metrics
	m.RunHistory(context.Background())
}
