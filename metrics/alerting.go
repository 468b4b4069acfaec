package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The series below exist for docs/prometheus/alerts.yml: upstream attempts
// per channel and outcome, automatic channel disables, quota batch
// flushes, the log queue's capacity and Redis reachability.

// Upstream attempt outcomes: a fixed set, so the label stays bounded.
const (
	Outcome2xx      = "2xx"
	Outcome4xx      = "4xx"
	Outcome429      = "429"
	Outcome5xx      = "5xx"
	OutcomeTimeout  = "timeout"
	OutcomeError    = "error"    // connection refused, reset, TLS, DNS…
	OutcomeCanceled = "canceled" // the client hung up: not the channel's fault
	outcomeCount    = 7
)

var outcomes = [outcomeCount]string{Outcome2xx, Outcome4xx, Outcome429, Outcome5xx, OutcomeTimeout, OutcomeError, OutcomeCanceled}

// redisPingTimeout bounds the scrape-time Redis check.
const redisPingTimeout = 2 * time.Second

type alerting struct {
	attempts         *prometheus.CounterVec
	disabled         *prometheus.CounterVec
	quotaFlushes     prometheus.Counter
	quotaFlushErrors prometheus.Counter
	queueCapacity    prometheus.GaugeFunc
	redisUp          prometheus.Collector
	// byChannel caches each channel's attempt counters (channel id →
	// *[outcomeCount]prometheus.Counter): an attempt then costs a map load
	// and an atomic add, no label hashing or allocation.
	byChannel sync.Map
}

func (p *Prometheus) newAlerting() {
	a := &p.alerting
	a.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "upstream_attempts_total",
		Help: "Upstream attempts of relay requests (retries included) by channel and outcome."}, []string{"channel", "outcome"})
	a.disabled = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "channel_auto_disabled_total",
		Help: "Channels disabled automatically after an upstream error said their key is dead."}, []string{"channel"})
	a.quotaFlushes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "quota_batch_flushes_total",
		Help: "Quota batch flushes attempted (BATCH_UPDATE_ENABLED)."})
	a.quotaFlushErrors = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "quota_batch_flush_errors_total",
		Help: "Quota batch flushes that failed; their deltas are kept and retried."})
	a.queueCapacity = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "log_batch_queue_capacity",
		Help: "Rows the log batch queue holds before requests wait for room."}, func() float64 {
		if src := p.sources.Load(); src != nil && src.LogQueueCapacity != nil {
			return float64(src.LogQueueCapacity())
		}
		return 0
	})
	a.redisUp = &redisCollector{p: p, desc: prometheus.NewDesc(namespace+"_redis_up",
		"1 when Redis answered a PING at scrape time, 0 when not; absent without REDIS_CONN_STRING.", nil, nil)}
}

// UpstreamAttempt counts one upstream attempt on channel id.
func (p *Prometheus) UpstreamAttempt(id int, outcome string) {
	if p == nil {
		return
	}
	v, ok := p.byChannel.Load(id)
	if !ok {
		var cs [outcomeCount]prometheus.Counter
		ch := strconv.Itoa(id)
		for i, o := range outcomes {
			cs[i] = p.attempts.WithLabelValues(ch, o)
		}
		v, _ = p.byChannel.LoadOrStore(id, &cs)
	}
	cs := v.(*[outcomeCount]prometheus.Counter)
	for i, o := range outcomes {
		if o == outcome {
			cs[i].Inc()
			return
		}
	}
}

// ChannelDisabled counts an automatic disable of channel id.
func (p *Prometheus) ChannelDisabled(id int) {
	if p != nil {
		p.disabled.WithLabelValues(strconv.Itoa(id)).Inc()
	}
}

// QuotaFlush records one quota batch flush that ended with err.
func (p *Prometheus) QuotaFlush(_ int, err error) {
	if p == nil {
		return
	}
	p.quotaFlushes.Inc()
	if err != nil {
		p.quotaFlushErrors.Inc()
	}
}

// redisCollector pings Redis when scraped. A gauge set by a background
// pinger would go stale with the process; this is as fresh as the scrape.
type redisCollector struct {
	p    *Prometheus
	desc *prometheus.Desc
}

func (c *redisCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *redisCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.p.sources.Load()
	if src == nil || src.RedisPing == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisPingTimeout)
	defer cancel()
	up := 1.0
	if src.RedisPing(ctx) != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, up)
}

// Transport wraps the upstream transport to count every attempt of a relay
// request (one with a RequestInfo in its context) by channel and outcome.
// A nil Metrics returns next itself.
func (m *Metrics) Transport(next http.RoundTripper) http.RoundTripper {
	if m == nil || m.Prom == nil {
		return next
	}
	return &attemptCounter{p: m.Prom, next: next}
}

type attemptCounter struct {
	p    *Prometheus
	next http.RoundTripper
}

func (t *attemptCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if info := RequestInfoFrom(req.Context()); info != nil && info.ChannelID != 0 {
		t.p.UpstreamAttempt(info.ChannelID, attemptOutcome(req.Context(), resp, err))
	}
	return resp, err
}

func attemptOutcome(ctx context.Context, resp *http.Response, err error) string {
	switch {
	case err == nil && resp.StatusCode == http.StatusTooManyRequests:
		return Outcome429
	case err == nil && resp.StatusCode >= 500:
		return Outcome5xx
	case err == nil && resp.StatusCode >= 400:
		return Outcome4xx
	case err == nil:
		return Outcome2xx
	case ctx.Err() == context.Canceled:
		return OutcomeCanceled
	}
	if te, ok := err.(interface{ Timeout() bool }); ok && te.Timeout() || ctx.Err() == context.DeadlineExceeded {
		return OutcomeTimeout
	}
	return OutcomeError
}
