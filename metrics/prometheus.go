package metrics

import (
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const (
	namespace = "oneapi"
	// DefaultModelLimit is how many distinct model names get their own
	// label value; later ones share OtherModel. Clients choose model names,
	// so without a cap each random name would be a new series forever.
	DefaultModelLimit = 200
	// OtherModel labels models past the cap, and names too long or not
	// UTF-8 to be a real model.
	OtherModel   = "other"
	maxModelName = 128
	// unmatchedRoute labels requests no route matched (gin's FullPath "").
	unmatchedRoute = "unmatched"
)

// Bucket bounds in seconds: LLM requests run from milliseconds to minutes,
// the gateway's own work and SQLite statements from microseconds.
var (
	latencyBuckets  = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	ttftBuckets     = []float64{.05, .1, .25, .5, 1, 2, 5, 10, 30, 60}
	overheadBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}
	dbBuckets       = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1}
)

// Prometheus holds the gateway's series on its own registry.
type Prometheus struct {
	reg     *prometheus.Registry
	models  *modelLabels
	sources atomic.Pointer[Sources]

	inFlight         prometheus.Gauge
	requests         *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	ttft             *prometheus.HistogramVec
	upstream         *prometheus.HistogramVec
	overhead         prometheus.Histogram
	dbStatements     *prometheus.CounterVec
	dbDuration       *prometheus.HistogramVec
	logFlushes       prometheus.Counter
	logFlushErrors   prometheus.Counter
	logRows          prometheus.Counter
	quota            *prometheus.CounterVec
	promptTokens     *prometheus.CounterVec
	completionTokens *prometheus.CounterVec
	alerting
}

// NewPrometheus registers the series, the Go runtime and the process
// collectors on reg (nil = a fresh registry). modelLimit caps distinct model
// label values (0 = DefaultModelLimit).
func NewPrometheus(reg *prometheus.Registry, modelLimit int) (*Prometheus, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if modelLimit <= 0 {
		modelLimit = DefaultModelLimit
	}
	p := &Prometheus{reg: reg, models: newModelLabels(modelLimit)}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
	}
	p.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "requests_in_flight",
		Help: "HTTP requests being served now."})
	p.requests = counter("requests_total", "HTTP requests served.", "route", "method", "status_class", "model", "channel")
	p.duration = histogram("request_duration_seconds", "HTTP request duration, first byte in to last byte out.",
		latencyBuckets, "route", "status_class")
	p.ttft = histogram("ttft_seconds", "Streams' time to first token.", ttftBuckets, "model")
	p.upstream = histogram("upstream_duration_seconds", "Time spent in upstream calls per relay request.",
		latencyBuckets, "model", "channel")
	p.overhead = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "gateway_overhead_seconds",
		Help: "Relay request duration minus upstream time.", Buckets: overheadBuckets})
	p.dbStatements = counter("db_statements_total", "Database statements run.", "op")
	p.dbDuration = histogram("db_statement_duration_seconds", "Database statement duration.", dbBuckets, "op")
	p.logFlushes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "log_batch_flushes_total",
		Help: "Log batch flushes attempted."})
	p.logFlushErrors = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "log_batch_flush_errors_total",
		Help: "Log batch flushes that failed."})
	p.logRows = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "log_batch_rows_total",
		Help: "Log rows written by successful batch flushes."})
	p.quota = counter("quota_consumed_total", "Quota charged for relay requests.", "model", "channel")
	p.promptTokens = counter("prompt_tokens_total", "Prompt tokens of relay requests.", "model", "channel")
	p.completionTokens = counter("completion_tokens_total", "Completion tokens of relay requests.", "model", "channel")

	p.newAlerting()
	queueDepth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "log_batch_queue_depth",
		Help: "Log rows waiting for the batch writer."}, func() float64 {
		if src := p.sources.Load(); src != nil && src.LogQueueDepth != nil {
			return float64(src.LogQueueDepth())
		}
		return 0
	})
	cacheHits := prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: "token_cache_hits_total",
		Help: "Token lookups answered by the local cache."}, func() float64 {
		hits, _ := p.cacheCounts()
		return float64(hits)
	})
	cacheMisses := prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: "token_cache_misses_total",
		Help: "Token lookups that went to the database."}, func() float64 {
		_, misses := p.cacheCounts()
		return float64(misses)
	})

	for _, c := range []prometheus.Collector{
		p.inFlight, p.requests, p.duration, p.ttft, p.upstream, p.overhead, p.dbStatements, p.dbDuration,
		p.logFlushes, p.logFlushErrors, p.logRows, p.quota, p.promptTokens, p.completionTokens,
		queueDepth, cacheHits, cacheMisses,
		p.attempts, p.disabled, p.quotaFlushes, p.quotaFlushErrors, p.queueCapacity, p.redisUp,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register prometheus collector: %w", err)
		}
	}
	return p, nil
}

// Handler serves the registry in the Prometheus exposition format.
func (p *Prometheus) Handler() http.Handler {
	return promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{})
}

// Record adds one finished request to the series.
func (p *Prometheus) Record(s *Sample) {
	if p == nil || s == nil {
		return
	}
	route := s.Route
	if route == "" {
		route = unmatchedRoute
	}
	class := statusClass(s.Status)
	model := p.models.label(s.Model)
	channel := strconv.Itoa(s.ChannelID)

	p.requests.WithLabelValues(route, methodLabel(s.Method), class, model, channel).Inc()
	p.duration.WithLabelValues(route, class).Observe(s.Duration.Seconds())
	if s.Stream && s.TTFT > 0 {
		p.ttft.WithLabelValues(model).Observe(s.TTFT.Seconds())
	}
	if s.Upstream > 0 {
		p.upstream.WithLabelValues(model, channel).Observe(s.Upstream.Seconds())
	}
	if s.Relay {
		p.overhead.Observe(max(s.Duration-s.Upstream, 0).Seconds())
	}
	if s.Quota > 0 {
		p.quota.WithLabelValues(model, channel).Add(float64(s.Quota))
	}
	if s.PromptTokens > 0 {
		p.promptTokens.WithLabelValues(model, channel).Add(float64(s.PromptTokens))
	}
	if s.CompletionTokens > 0 {
		p.completionTokens.WithLabelValues(model, channel).Add(float64(s.CompletionTokens))
	}
}

// RecordDB adds one database statement of kind op (a fixed set: the gorm
// plugin's callback kinds).
func (p *Prometheus) RecordDB(op string, d time.Duration) {
	if p == nil {
		return
	}
	p.dbStatements.WithLabelValues(op).Inc()
	p.dbDuration.WithLabelValues(op).Observe(d.Seconds())
}

// Begin counts a request in flight.
func (p *Prometheus) Begin() {
	if p != nil {
		p.inFlight.Inc()
	}
}

// End undoes Begin.
func (p *Prometheus) End() {
	if p != nil {
		p.inFlight.Dec()
	}
}

// LogFlush records one log batch flush of rows rows that ended with err.
func (p *Prometheus) LogFlush(rows int, err error) {
	if p == nil {
		return
	}
	p.logFlushes.Inc()
	if err != nil {
		p.logFlushErrors.Inc()
		return
	}
	p.logRows.Add(float64(rows))
}

// SetSources plugs in other components' gauges, read at scrape time.
func (p *Prometheus) SetSources(src Sources) {
	if p != nil {
		p.sources.Store(&src)
	}
}

func (p *Prometheus) cacheCounts() (hits, misses uint64) {
	if src := p.sources.Load(); src != nil {
		return src.cacheCounts()
	}
	return 0, 0
}

func statusClass(status int) string {
	switch status / 100 {
	case 1:
		return "1xx"
	case 2:
		return "2xx"
	case 3:
		return "3xx"
	case 4:
		return "4xx"
	case 5:
		return "5xx"
	}
	return "unknown"
}

// methodLabel folds the methods a client invents into one value.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodHead, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// modelLabels admits the first limit distinct model names as label values.
// Reads are a lock-free map lookup; the map is copied on each admission,
// which happens at most limit times.
type modelLabels struct {
	limit int
	known atomic.Pointer[map[string]struct{}]
	full  atomic.Bool
	mu    sync.Mutex // serialises admissions
}

func newModelLabels(limit int) *modelLabels {
	m := &modelLabels{limit: limit}
	m.known.Store(&map[string]struct{}{})
	return m
}

func (m *modelLabels) label(model string) string {
	if model == "" {
		return ""
	}
	if _, ok := (*m.known.Load())[model]; ok {
		return model
	}
	if m.full.Load() || len(model) > maxModelName || !utf8.ValidString(model) {
		return OtherModel
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.known.Load()
	if _, ok := old[model]; ok {
		return model
	}
	if len(old) >= m.limit {
		m.full.Store(true)
		return OtherModel
	}
	next := maps.Clone(old)
	next[model] = struct{}{}
	m.known.Store(&next)
	return model
}
