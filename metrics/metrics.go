// Package metrics measures the gateway from inside: a windowed collector
// behind GET /api/metrics/ (request counts, success rate, HDR-histogram
// latency percentiles, time to first token, database statements), the
// Prometheus series behind GET /metrics, and a gorm plugin that times every
// statement. The HTTP middleware feeds it one Sample per request through
// Metrics.Record; every method is a no-op on a nil *Metrics, which is what
// METRICS_ENABLED=false gives.
package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"one-api/common"
)

// Sources are gauges owned by other components, read when a snapshot or a
// scrape asks for them. Any field may be nil.
type Sources struct {
	// LogQueueDepth is the log batch writer's queued rows.
	LogQueueDepth func() int
	// CacheHits and CacheMisses are the token cache's lifetime counters.
	CacheHits   func() uint64
	CacheMisses func() uint64
	// LogQueueCapacity is how many rows the log batch queue holds.
	LogQueueCapacity func() int
	// RedisPing checks Redis at scrape time (nil = no Redis configured:
	// no oneapi_redis_up series).
	RedisPing func(context.Context) error
}

func (s *Sources) cacheCounts() (hits, misses uint64) {
	if s.CacheHits != nil {
		hits = s.CacheHits()
	}
	if s.CacheMisses != nil {
		misses = s.CacheMisses()
	}
	return hits, misses
}

// Metrics is the one entry point the rest of the gateway records into: the
// window Collector and the Prometheus series, either of which may be nil.
type Metrics struct {
	Window  *Collector
	Prom    *Prometheus
	History *History // the last hour of Window's intervals; nil = none
}

// New builds both halves for cfg, registering the Prometheus series on reg
// (nil = a fresh registry). It returns nil when metrics are disabled.
func New(cfg common.MetricsConfig, reg *prometheus.Registry, opts ...Option) (*Metrics, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	prom, err := NewPrometheus(reg, 0)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	w := NewCollector(opts...)
	return &Metrics{Window: w, Prom: prom, History: NewHistory(w, HistoryInterval, HistoryKeep)}, nil
}

// Record adds one finished request.
func (m *Metrics) Record(s *Sample) {
	if m == nil {
		return
	}
	m.Window.Record(s)
	m.Prom.Record(s)
}

// RecordDB adds one database statement; op is the gorm callback kind
// (create, query, update, delete, row, raw).
func (m *Metrics) RecordDB(op string, d time.Duration) {
	if m == nil {
		return
	}
	m.Window.RecordDB(d)
	m.Prom.RecordDB(op, d)
}

// Begin counts a request in flight; every Begin needs one End.
func (m *Metrics) Begin() {
	if m == nil {
		return
	}
	m.Window.Begin()
	m.Prom.Begin()
}

// End undoes Begin.
func (m *Metrics) End() {
	if m == nil {
		return
	}
	m.Window.End()
	m.Prom.End()
}

// LogFlush records one log batch flush of rows rows that ended with err.
func (m *Metrics) LogFlush(rows int, err error) {
	if m == nil {
		return
	}
	m.Prom.LogFlush(rows, err)
}

// QuotaFlush records one quota batch flush of n balances that ended with
// err.
func (m *Metrics) QuotaFlush(n int, err error) {
	if m == nil {
		return
	}
	m.Prom.QuotaFlush(n, err)
}

// ChannelDisabled counts an automatic disable of channel id.
func (m *Metrics) ChannelDisabled(id int) {
	if m == nil {
		return
	}
	m.Prom.ChannelDisabled(id)
}

// SetSources plugs in other components' gauges (see Sources).
func (m *Metrics) SetSources(src Sources) {
	if m == nil {
		return
	}
	m.Window.SetSources(src)
	m.Prom.SetSources(src)
}

// Run restarts the window every interval until ctx is done (see
// Collector.Run).
func (m *Metrics) Run(ctx context.Context, interval time.Duration) {
	if m == nil {
		return
	}
	m.Window.Run(ctx, interval)
}

// RunHistory records the history (see History.Run) until ctx is done.
func (m *Metrics) RunHistory(ctx context.Context) {
	if m == nil {
		return
	}
	m.History.Run(ctx)
}
