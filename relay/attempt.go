package relay

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"one-api/common"
)

var (
	// ErrShuttingDown is the cause of the requests ended by EndInFlight.
	ErrShuttingDown = errors.New("the server is shutting down")
	// errStalled is the cause of a stream ended by StreamingTimeout.
	errStalled = errors.New("upstream sent nothing within STREAMING_TIMEOUT")
)

// EndInFlight ends every request still in flight, deliberately: a stream
// gets a final error event and is billed for what it delivered, a request
// still waiting for upstream gets a 503 and its reservation back. New
// requests are refused the same way. main calls it when the drain part of
// SHUTDOWN_TIMEOUT is spent, so that settlement and the final flushes still
// fit in the rest.
func (r *Relay) EndInFlight() { r.stop(ErrShuttingDown) }

// attemptContext is the context of one upstream attempt: cancelled when the
// client goes, when the relay is stopped (cause ErrShuttingDown) or when
// the stream stalls (cause errStalled). cancel must be called.
func (r *Relay) attemptContext(parent context.Context) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	unlink := context.AfterFunc(r.stopped, func() { cancel(context.Cause(r.stopped)) })
	return ctx, func(err error) {
		unlink()
		cancel(err)
	}
}

// idleBody cancels an attempt when its body yields nothing for timeout:
// any byte (a keep-alive comment too) restarts the clock.
type idleBody struct {
	io.ReadCloser
	timeout time.Duration
	timer   *time.Timer
	// draining: the stream is over; reads no longer restart the clock
	// and stop after drainMaxBytes (drainForReuse).
	draining bool
	drained  int
}

func watchIdle(body io.ReadCloser, timeout time.Duration, cancel context.CancelCauseFunc) io.ReadCloser {
	if timeout <= 0 {
		return body
	}
	return &idleBody{ReadCloser: body, timeout: timeout, timer: time.AfterFunc(timeout, func() { cancel(errStalled) })}
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.draining {
		if b.drained += n; b.drained > drainMaxBytes && err == nil {
			err = errDrainLimit
		}
	} else if n > 0 {
		b.timer.Reset(b.timeout)
	}
	return n, err
}

// Bounds of drainForReuse: normally all that follows [DONE] is the chunked
// body's terminator, a few bytes already on their way.
const (
	drainMaxBytes = 4 << 10
	drainMaxWait  = 50 * time.Millisecond
)

var errDrainLimit = errors.New("more than drainMaxBytes after the end of the stream")

// drainForReuse reads what upstream sends after a stream's [DONE] so the
// transport puts the connection back in its idle pool: a response body
// closed before its end closes the connection, and the next stream then
// pays a dial (TCP connect, TLS) before its first token. In the bench's
// stream step that was one stream in five (issue 19; a bare
// httputil.ReverseProxy copies to the end and keeps its connections). The
// read is bounded by drainMaxWait (the idle watchdog's timer, shortened and
// no longer restarted by data) and drainMaxBytes: an upstream that keeps
// the response open past them loses its connection, as before. Without a
// watchdog (STREAMING_TIMEOUT=0) nothing bounds the wait, so the body is
// left to be closed.
func drainForReuse(body io.Reader) {
	b, ok := body.(*idleBody)
	if !ok {
		return
	}
	b.draining = true
	b.timer.Reset(min(b.timeout, drainMaxWait))
	// io.Discard reads with a pooled buffer: no allocation per stream.
	_, _ = io.Copy(io.Discard, b)
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.ReadCloser.Close()
}

// attemptWarnings rate-limits the one [WARN] line per failed upstream
// attempt, so an outage (every request failing on every channel) does not
// flood the journal: at most warnBurst lines per warnWindow, then one line
// saying how many were left out.
type attemptWarnings struct {
	mu         sync.Mutex
	windowEnd  time.Time
	n          int
	suppressed int
}

const (
	warnBurst  = 20
	warnWindow = 10 * time.Second
)

// allow reports whether a line may be written now, and how many lines were
// suppressed since the last one written.
func (w *attemptWarnings) allow(now time.Time) (ok bool, suppressed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.After(w.windowEnd) {
		w.windowEnd, w.n = now.Add(warnWindow), 0
	}
	if w.n >= warnBurst {
		w.suppressed++
		return false, 0
	}
	w.n++
	suppressed, w.suppressed = w.suppressed, 0
	return true, suppressed
}

// warnAttempt logs a failed attempt: channel, status (0 = no answer), the
// error type and the request id; never the body, which may quote keys or
// the user's prompt.
func (j *job) warnAttempt(status int, errType string) {
	ok, suppressed := j.r.warnings.allow(time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		common.Warn("%d more failed upstream attempts not logged", suppressed)
	}
	common.Warn("upstream attempt failed: channel #%d, status %d, %s (request id: %s)", j.ch.ID, status, errType, j.requestID())
}
