package metrics

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds, in microseconds: 1µs to 10 minutes at three significant
// figures keeps each histogram near 170 KB however many requests it sees;
// slower requests are recorded as 10 minutes.
const (
	histLowest  = 1
	histHighest = int64(10 * time.Minute / time.Microsecond)
	histSigFigs = 3
	// The history's per-interval histograms feed charts, not alerts: two
	// significant figures keep each near 17 KB.
	intervalSigFigs = 2
)

// Option configures a Collector.
type Option func(*Collector)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return func(c *Collector) { c.now = now }
}

// Collector keeps the current window's request statistics for
// GET /api/metrics/, and the current history interval's for History (see
// Cut). Record and RecordDB take one short mutex; the histograms are
// fixed-size, so memory does not grow with traffic.
type Collector struct {
	now      func() time.Time
	started  time.Time
	inFlight atomic.Int64
	sources  atomic.Pointer[Sources]

	mu sync.Mutex
	w  window // the /api/metrics/ window
	iv window // the history interval being filled

	// cutMu serializes Cut; spare is the histogram pair the next interval
	// starts with (the one before last, cleared), so cutting allocates nothing.
	cutMu sync.Mutex
	spare [2]*hdrhistogram.Histogram
}

// window is everything Reset clears.
type window struct {
	start         time.Time
	total         int64
	failed        int64
	clientErrors  int64
	streams       int64
	durationSum   time.Duration
	ttftSum       time.Duration
	ttftCount     int64
	dbCount       int64
	dbSum         time.Duration
	latency       *hdrhistogram.Histogram
	overhead      *hdrhistogram.Histogram
	cacheHitsBase uint64
	cacheMissBase uint64
}

// NewCollector returns a Collector whose window starts now.
func NewCollector(opts ...Option) *Collector {
	c := &Collector{now: time.Now}
	for _, o := range opts {
		o(c)
	}
	c.started = c.now()
	c.w = window{
		start:    c.started,
		latency:  hdrhistogram.New(histLowest, histHighest, histSigFigs),
		overhead: hdrhistogram.New(histLowest, histHighest, histSigFigs),
	}
	c.iv = window{
		start:    c.started,
		latency:  hdrhistogram.New(histLowest, histHighest, intervalSigFigs),
		overhead: hdrhistogram.New(histLowest, histHighest, intervalSigFigs),
	}
	c.spare = [2]*hdrhistogram.Histogram{
		hdrhistogram.New(histLowest, histHighest, intervalSigFigs),
		hdrhistogram.New(histLowest, histHighest, intervalSigFigs),
	}
	return c
}

// SetSources plugs in gauges owned by other components. It may be called at
// any time; the cache counters are reported as deltas from this call (and
// from every later Reset).
func (c *Collector) SetSources(src Sources) {
	if c == nil {
		return
	}
	hits, misses := src.cacheCounts()
	c.mu.Lock()
	c.sources.Store(&src)
	c.w.cacheHitsBase, c.w.cacheMissBase = hits, misses
	c.iv.cacheHitsBase, c.iv.cacheMissBase = hits, misses
	c.mu.Unlock()
}

// Begin counts a request in flight; every Begin needs one End.
func (c *Collector) Begin() {
	if c != nil {
		c.inFlight.Add(1)
	}
}

// End undoes Begin.
func (c *Collector) End() {
	if c != nil {
		c.inFlight.Add(-1)
	}
}

// Record adds a finished request to the window; requests that are not relay
// requests are ignored (Prometheus still sees them).
func (c *Collector) Record(s *Sample) {
	if c == nil || s == nil || !s.Relay {
		return
	}
	latency := micros(s.Duration)
	overhead := micros(s.Duration - s.Upstream)

	c.mu.Lock()
	c.w.add(s, latency, overhead)
	c.iv.add(s, latency, overhead)
	c.mu.Unlock()
}

// add counts one relay request in w.
func (w *window) add(s *Sample, latency, overhead int64) {
	w.total++
	switch {
	case s.Status >= 500 || s.RelayError:
		w.failed++
	case s.Status >= 400:
		w.clientErrors++
	}
	w.durationSum += s.Duration
	if s.Stream {
		w.streams++
		if s.TTFT > 0 {
			w.ttftSum += s.TTFT
			w.ttftCount++
		}
	}
	// Values are clamped to the histogram's range, so these cannot fail.
	_ = w.latency.RecordValue(latency)
	_ = w.overhead.RecordValue(overhead)
}

// RecordDB adds one database statement that took d.
func (c *Collector) RecordDB(d time.Duration) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.w.dbCount++
	c.w.dbSum += d
	c.iv.dbCount++
	c.iv.dbSum += d
	c.mu.Unlock()
}

// Reset starts a new window.
func (c *Collector) Reset() {
	if c == nil {
		return
	}
	var hits, misses uint64
	if src := c.sources.Load(); src != nil {
		hits, misses = src.cacheCounts()
	}
	now := c.now()
	c.mu.Lock()
	latency, overhead := c.w.latency, c.w.overhead
	latency.Reset()
	overhead.Reset()
	c.w = window{
		start:         now,
		latency:       latency,
		overhead:      overhead,
		cacheHitsBase: hits,
		cacheMissBase: misses,
	}
	c.mu.Unlock()
}

// Run resets the window every interval until ctx is done; an interval of 0
// (METRICS_RESET_INTERVAL=0) means never, and Run returns at once.
func (c *Collector) Run(ctx context.Context, interval time.Duration) {
	if c == nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	c.RunTicks(ctx, t.C)
}

// RunTicks resets the window on every tick until ctx is done. Run uses it
// with a real ticker; tests drive it with their own channel.
func (c *Collector) RunTicks(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			c.Reset()
		}
	}
}

// Snapshot returns the current window's statistics.
func (c *Collector) Snapshot() Snapshot {
	if c == nil {
		return Snapshot{SuccessRate: 100}
	}
	s, hits, misses := c.readNow()
	c.mu.Lock()
	c.w.read(&s, hits, misses)
	c.mu.Unlock()
	return s
}

// Cut ends the current history interval and starts the next one. It
// returns the ended interval's statistics in the Snapshot shape, with
// WindowStart the interval's start; InFlight, Uptime and LogQueueDepth are
// readings of now. The swap holds the recording lock for a few stores; the
// percentiles are read afterwards from the interval no one records into.
func (c *Collector) Cut() Snapshot {
	if c == nil {
		return Snapshot{SuccessRate: 100}
	}
	c.cutMu.Lock()
	defer c.cutMu.Unlock()
	s, hits, misses := c.readNow()
	next := window{
		start: s.WindowStart, latency: c.spare[0], overhead: c.spare[1],
		cacheHitsBase: hits, cacheMissBase: misses,
	}
	c.mu.Lock()
	ended := c.iv
	c.iv = next
	c.mu.Unlock()
	ended.read(&s, hits, misses)
	ended.latency.Reset()
	ended.overhead.Reset()
	c.spare = [2]*hdrhistogram.Histogram{ended.latency, ended.overhead}
	return s
}

// readNow starts a Snapshot with the readings of now (in flight, uptime, log
// queue) and returns the cache counters; WindowStart holds the time read.
func (c *Collector) readNow() (s Snapshot, hits, misses uint64) {
	s.InFlight = c.inFlight.Load()
	if src := c.sources.Load(); src != nil {
		hits, misses = src.cacheCounts()
		if src.LogQueueDepth != nil {
			s.LogQueueDepth = src.LogQueueDepth()
		}
	}
	now := c.now()
	s.Uptime = now.Sub(c.started)
	s.WindowStart = now
	return s, hits, misses
}

// read fills s with w's statistics, given the cache counters now; the
// caller holds c.mu or owns w.
func (w *window) read(s *Snapshot, hits, misses uint64) {
	s.WindowStart = w.start
	s.TotalRequests = w.total
	s.FailedRequests = w.failed
	s.ClientErrors = w.clientErrors
	s.StreamingRequests = w.streams
	s.DBQueryCount = w.dbCount
	if w.total > 0 {
		s.AverageDuration = w.durationSum / time.Duration(w.total)
	}
	if w.ttftCount > 0 {
		s.AvgTTFT = w.ttftSum / time.Duration(w.ttftCount)
	}
	if w.dbCount > 0 {
		s.DBAvgDuration = w.dbSum / time.Duration(w.dbCount)
	}
	lat := w.latency.ValueAtPercentiles([]float64{50, 95, 99})
	ovh := w.overhead.ValueAtPercentiles([]float64{50, 99})
	s.CacheHits = sub(hits, w.cacheHitsBase)
	s.CacheMisses = sub(misses, w.cacheMissBase)
	s.P50Latency = fromMicros(lat[50])
	s.P95Latency = fromMicros(lat[95])
	s.P99Latency = fromMicros(lat[99])
	s.OverheadP50 = fromMicros(ovh[50])
	s.OverheadP99 = fromMicros(ovh[99])
	s.SuccessRate = percent(s.TotalRequests-s.FailedRequests, s.TotalRequests, 100)
	s.CacheHitRate = percent(int64(s.CacheHits), int64(s.CacheHits+s.CacheMisses), 0)
}

// micros converts d to histogram units, clamped to the histogram's range.
func micros(d time.Duration) int64 {
	v := int64(d / time.Microsecond)
	return min(max(v, 0), histHighest)
}

func fromMicros(v int64) time.Duration { return time.Duration(v) * time.Microsecond }

// sub is a-b, or 0 when a counter went backwards (its owner was replaced).
func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}
