package middleware

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"one-api/common"
	"one-api/metrics"
	"one-api/tracing"
)

const (
	// ResponseTimeHeader carries the milliseconds, two decimals, from the
	// request's arrival to its response headers going out.
	ResponseTimeHeader = "X-Response-Time-Ms"
	relayPrefix        = "/v1/"
	// maxPooledLine keeps a freak long line's buffer out of the pool.
	maxPooledLine = 4 << 10
)

// Observe times every request and reports it: the X-Response-Time-Ms
// header, one metrics.Sample into m (nil = METRICS_ENABLED=false: nothing is
// recorded), a slow-request line when a request takes longer than
// cfg.SlowRequestThreshold (0 = never) and, with cfg.AccessLog, one access
// line per request. It must be global middleware (engine.Use), so that
// NoRoute answers are timed too, and run after AssignRequestID, whose
// RequestIDHeader the log lines quote.
//
// Relay requests (/v1/...) get an empty metrics.RequestInfo in their
// context for the relay to fill in; it lives in pooled memory and is valid
// only until the handler returns.
func Observe(m *metrics.Metrics, cfg common.MetricsConfig) gin.HandlerFunc {
	return newObserver(m, cfg, time.Now).handle
}

// ObserveTraced is Observe that also starts a server span for each relay
// request when tr is not nil (tracing on); the relay's upstream attempts
// become its children through the request context.
func ObserveTraced(m *metrics.Metrics, cfg common.MetricsConfig, tr *tracing.Tracer) gin.HandlerFunc {
	o := newObserver(m, cfg, time.Now)
	o.tr = tr
	return o.handle
}

type observer struct {
	m      *metrics.Metrics
	tr     *tracing.Tracer // nil = tracing off
	slow   time.Duration
	access bool
	now    func() time.Time
}

func newObserver(m *metrics.Metrics, cfg common.MetricsConfig, now func() time.Time) *observer {
	return &observer{m: m, slow: cfg.SlowRequestThreshold, access: cfg.AccessLog, now: now}
}

var writerPool = sync.Pool{New: func() any { return new(timedWriter) }}

func (o *observer) handle(c *gin.Context) {
	w := writerPool.Get().(*timedWriter)
	w.ResponseWriter = c.Writer
	w.now = o.now
	w.start = o.now()
	w.stamped = false
	w.returned = false
	c.Writer = w

	var info *metrics.RequestInfo
	var span trace.Span
	relay := strings.HasPrefix(c.Request.URL.Path, relayPrefix)
	// Only the relay fills RequestInfo, and only the metrics, the slow line
	// and the trace read it: other requests skip the context copy.
	if relay && (o.m != nil || o.slow > 0 || o.tr != nil) {
		info = &w.info
		ctx := metrics.WithRequestInfo(c.Request.Context(), info)
		if o.tr != nil {
			ctx, span = o.tr.StartRequest(ctx, c.Request.Header, c.Request.Method, c.FullPath())
		}
		c.Request = c.Request.WithContext(ctx)
	}

	o.m.Begin()
	// Deferred so that a panicking handler (a broken stream aborts with
	// http.ErrAbortHandler) still gets its header, its sample and its End,
	// and the outer recovery middleware writes through gin's own writer.
	defer o.finish(c, w, relay, info, span)
	c.Next()
	w.returned = true
}

func (o *observer) finish(c *gin.Context, w *timedWriter, relay bool, info *metrics.RequestInfo, span trace.Span) {
	// Gin writes the headers of a response nobody wrote to after the last
	// handler returns, bypassing c.Writer: stamp them now.
	w.stamp()
	end := o.now()
	d := end.Sub(w.start)
	status := w.Status()
	if !w.returned && !w.ResponseWriter.Written() {
		// A panic: the recovery middleware outside will answer 500.
		status = http.StatusInternalServerError
	}
	c.Writer = w.ResponseWriter

	o.m.End()
	if o.m != nil {
		s := metrics.Sample{
			Route:    c.FullPath(),
			Method:   c.Request.Method,
			Status:   status,
			Duration: d,
			Relay:    relay,
		}
		s.AddInfo(info)
		o.m.Record(&s)
	}
	if o.slow > 0 && d > o.slow {
		o.logSlow(c, status, d, info)
	}
	if o.access {
		o.logAccess(c, status, d)
	}
	if span != nil {
		tracing.EndRequest(span, status, c.Writer.Header().Get(RequestIDHeader), info)
	}

	w.ResponseWriter = nil
	w.info = metrics.RequestInfo{}
	writerPool.Put(w)
}

// logSlow writes the slow-request line. It is rare, so fmt is fine here.
func (o *observer) logSlow(c *gin.Context, status int, d time.Duration, info *metrics.RequestInfo) {
	model, channel := "-", "-"
	if info != nil {
		if info.Model != "" {
			model = string(appendValue(nil, info.Model))
		}
		if info.ChannelID != 0 {
			channel = strconv.Itoa(info.ChannelID)
		}
	}
	common.Warn("slow request: method=%s path=%s status=%d duration=%s model=%s channel=%s request_id=%s",
		c.Request.Method, c.Request.URL.EscapedPath(), status, d.Round(time.Millisecond), model, channel,
		appendValue(nil, c.Writer.Header().Get(RequestIDHeader)))
}

var linePool = sync.Pool{New: func() any {
	b := make([]byte, 0, 256)
	return &b
}}

// logAccess writes
//
//	[INFO] 200 | POST /v1/chat/completions | 127.0.0.1 | request_id=... | X-Response-Time 12.34
//
// with the whole request's duration in ms as the last field, for
// `grep X-Response-Time | awk '{print $NF}'`. It runs on every request, so
// the line is appended into a pooled buffer instead of formatted.
func (o *observer) logAccess(c *gin.Context, status int, d time.Duration) {
	bp := linePool.Get().(*[]byte)
	b := append((*bp)[:0], "[INFO] "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, " | "...)
	b = append(b, c.Request.Method...)
	b = append(b, ' ')
	// The escaped path: a %0A in the URL must not start a forged log line.
	// Never the query string, which may carry keys.
	b = append(b, c.Request.URL.EscapedPath()...)
	b = append(b, " | "...)
	b = append(b, c.ClientIP()...)
	b = append(b, " | request_id="...)
	b = appendValue(b, c.Writer.Header().Get(RequestIDHeader))
	b = append(b, " | X-Response-Time "...)
	b = appendMillis(b, d)
	b = append(b, '\n')
	common.LogRawBytes(b)
	if cap(b) <= maxPooledLine {
		*bp = b
		linePool.Put(bp)
	}
}

// appendValue appends v as one log field: as is when it is printable ASCII
// without spaces (the usual model name or request id), quoted otherwise, so
// a client-chosen value cannot split a line or a field.
func appendValue(b []byte, v string) []byte {
	if v == "" {
		return append(b, '-')
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '"' {
			return strconv.AppendQuote(b, v)
		}
	}
	return append(b, v...)
}

// appendMillis appends d in milliseconds with two decimals.
func appendMillis(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

// timedWriter stamps ResponseTimeHeader on the response at the moment its
// headers are written. Gin's writer writes them lazily, on the first
// WriteHeaderNow, Write, WriteString or Flush; its WriteHeader only records
// the status, so it is not overridden.
type timedWriter struct {
	gin.ResponseWriter
	now     func() time.Time
	start   time.Time
	stamped bool
	// returned is false in finish when a handler panicked.
	returned bool
	// info is the request's RequestInfo, pooled with the writer.
	info metrics.RequestInfo
}

func (w *timedWriter) stamp() {
	if w.stamped {
		return
	}
	w.stamped = true
	if w.ResponseWriter.Written() {
		return // written through another path: too late for a header
	}
	var buf [24]byte
	v := appendMillis(buf[:0], w.now().Sub(w.start))
	// The key is already canonical; a fresh slice, because the header map
	// outlives this pooled writer.
	w.ResponseWriter.Header()[ResponseTimeHeader] = []string{string(v)}
}

func (w *timedWriter) WriteHeaderNow() {
	w.stamp()
	w.ResponseWriter.WriteHeaderNow()
}

func (w *timedWriter) Write(b []byte) (int, error) {
	w.stamp()
	return w.ResponseWriter.Write(b)
}

func (w *timedWriter) WriteString(s string) (int, error) {
	w.stamp()
	return w.ResponseWriter.WriteString(s)
}

func (w *timedWriter) Flush() {
	w.stamp()
	w.ResponseWriter.Flush()
}

// Unwrap lets http.ResponseController reach the connection (write
// deadlines) through this wrapper.
func (w *timedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
