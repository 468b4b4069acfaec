package metrics

import (
	"context"
	"sync"
	"time"
)

// The history behind GET /api/metrics/history: one reading every
// HistoryInterval, the last HistoryKeep of them (an hour), so the console's
// charts show the past the moment the page opens.
const (
	HistoryInterval = 10 * time.Second
	HistoryKeep     = 360
)

// History is a ring of per-interval readings of a Collector (Collector.Cut).
// Its memory is fixed: HistoryKeep snapshots.
type History struct {
	c        *Collector
	interval time.Duration

	mu     sync.Mutex
	points []Snapshot // ring, len <= keep
	next   int        // where the next point goes once the ring is full
	keep   int
}

// NewHistory returns a History of c keeping the last keep intervals.
func NewHistory(c *Collector, interval time.Duration, keep int) *History {
	return &History{c: c, interval: interval, keep: keep, points: make([]Snapshot, 0, keep)}
}

// Interval is the length of one point.
func (h *History) Interval() time.Duration {
	if h == nil {
		return 0
	}
	return h.interval
}

// Run cuts an interval every h.Interval() until ctx is done.
func (h *History) Run(ctx context.Context) {
	if h == nil {
		return
	}
	t := time.NewTicker(h.interval)
	defer t.Stop()
	h.RunTicks(ctx, t.C)
}

// RunTicks cuts an interval on every tick until ctx is done; tests drive it
// with their own channel.
func (h *History) RunTicks(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			h.Tick()
		}
	}
}

// Tick ends the current interval and stores its reading, dropping the
// oldest once the ring is full.
func (h *History) Tick() {
	if h == nil {
		return
	}
	s := h.c.Cut()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.points) < h.keep {
		h.points = append(h.points, s)
		return
	}
	h.points[h.next] = s
	h.next = (h.next + 1) % h.keep
}

// Points returns the stored readings, oldest first.
func (h *History) Points() []Snapshot {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Snapshot, 0, len(h.points))
	out = append(out, h.points[h.next:]...)
	return append(out, h.points[:h.next]...)
}
