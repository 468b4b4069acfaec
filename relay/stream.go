package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"one-api/middleware"
	"one-api/relay/openai"
	"one-api/relay/sse"
)

// stream relays an event stream event by event, each flushed as it comes.
//
// The client's status line waits for upstream's first event: a stream that
// fails before it (cut right after its headers, stalled, garbage) is an
// upstream failure like any other and may go to another channel. From the
// first event on, the stream is the client's: the usage report that
// include_usage adds is kept for billing and passed on only if the client
// asked for it; an upstream cut, a stall past StreamingTimeout or the
// gateway's own shutdown ends the client's stream with an error event
// (never a [DONE] upstream did not send); the client hanging up cancels the
// upstream request through the request context. Either way what was
// delivered is billed. Any local token count happens before the last
// event is written, never between it and the end of the response.
func (j *job) stream(ctx context.Context, resp *http.Response, sent time.Time) (*apiError, bool) {
	defer resp.Body.Close()
	c := j.c
	rd := sse.NewReader(resp.Body)
	ev, err := rd.Next()
	if err != nil {
		j.addUpstream(sent)
		return j.noFirstEvent(ctx, err)
	}

	j.prepareCount()
	h := c.Writer.Header()
	copyResponseHeader(h, resp.Header)
	sse.SetHeaders(h)
	c.Writer.WriteHeader(http.StatusOK)
	j.wroteHeader = true
	w := sse.NewWriter(c.Writer)

	text := getText()
	defer putText(text)
	var (
		usage     openai.Usage
		haveUsage bool
		delivered bool
		done      bool
		readErr   error
		writeErr  error
	)
	for ; err == nil; ev, err = rd.Next() {
		if ev.Done {
			done = true
			break
		}
		// One scan of the chunk for its usage, its shape and its text.
		n := len(*text)
		var chunk openai.Chunk
		*text, chunk = openai.ReadChunk(*text, ev.Data)
		if chunk.HasUsage && plausible(chunk.Usage) {
			usage, haveUsage = chunk.Usage, true
			if !j.p.req.IncludeUsage && chunk.UsageOnly {
				*text = (*text)[:n] // not delivered (empty choices, so normally nothing)
				continue
			}
		}
		data := ev.Data
		if bytes.HasPrefix(data, []byte(`{"error"`)) {
			// An error object sent as an event may quote the key as a
			// non-stream error does.
			data = []byte(redact(string(data), j.ch.Key))
		}
		if writeErr = w.Data(data); writeErr != nil {
			*text = (*text)[:n] // not delivered: not billed
			break
		}
		if !delivered && j.info != nil {
			j.info.TTFT = time.Since(j.start)
		}
		delivered = true
	}
	if err != nil && !errors.Is(err, io.EOF) {
		readErr = err
	}
	j.addUpstream(sent)

	clientGone := writeErr != nil || c.Request.Context().Err() != nil
	if !haveUsage && !delivered && (readErr != nil || clientGone) {
		// Nothing reached the client: a failed request, not charged.
		j.release()
		return nil, false
	}
	if !haveUsage && !clientGone {
		// Counted before the final event, so the client's response is not
		// held open by the count (issue 12).
		usage, haveUsage = j.countUsage(*text), true
	}
	if !haveUsage {
		usage = j.countUsage(*text)
	}
	// Billed and logged before the final event: a client that saw its
	// stream end was charged even if the process dies right after (with
	// the synchronous ledger the rows are committed by then; issue 19).
	j.settle(usage)
	switch {
	case clientGone:
	case done:
		if writeErr = w.Done(); writeErr == nil {
			drainForReuse(resp.Body)
		}
	case readErr != nil:
		j.endStream(ctx, w)
	}
	return nil, false
}

// noFirstEvent answers a stream that failed before its first event (err
// from the reader): nothing reached the client, so another channel may
// serve it, unless the client left or the gateway is stopping.
func (j *job) noFirstEvent(ctx context.Context, err error) (*apiError, bool) {
	if errors.Is(err, io.EOF) {
		err = errors.New("stream ended without an event")
	}
	switch {
	case j.c.Request.Context().Err() != nil:
		return transportError(failNetwork, err), false // the client left
	case errors.Is(context.Cause(ctx), ErrShuttingDown):
		return shuttingDown(), false
	case errors.Is(context.Cause(ctx), errStalled):
		err = fmt.Errorf("%w (%s)", errStalled, j.r.cfg.StreamingTimeout)
	}
	return upstreamFailure("upstream_stream_failed", "upstream stream failed before its first event",
		fmt.Errorf("channel #%d: %w", j.ch.ID, err)), true
}

// endStream ends a stream that did not finish with an error event saying
// why: the gateway stopping, upstream going silent, or upstream cutting it.
func (j *job) endStream(ctx context.Context, w *sse.Writer) {
	if j.info != nil {
		j.info.RelayError = true
	}
	e := openai.Error{Type: openai.TypeUpstream}
	status := 0
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrShuttingDown):
		e.Type, e.Code, e.Message = openai.TypeOneAPI, "server_shutting_down", "the server is shutting down; the response was cut short"
		status = http.StatusServiceUnavailable
	case errors.Is(cause, errStalled):
		e.Code, e.Message = "stream_timeout", fmt.Sprintf("upstream sent nothing for %s", j.r.cfg.StreamingTimeout)
		status = http.StatusGatewayTimeout
	default:
		e.Code, e.Message = "stream_interrupted", "upstream stream was interrupted"
		status = http.StatusBadGateway
	}
	if status != http.StatusServiceUnavailable {
		j.warnAttempt(status, e.Type+"/"+e.Code.(string))
	}
	e.Message = middleware.WithRequestID(j.c, e.Message)
	_ = j.streamError(w, status, e)
}

// streamError writes the error event that ends a stream, in the client's
// dialect: OpenAI's error object as data, or on /v1/messages Anthropic's
// "error" event (its type following status, as for a JSON answer).
func (j *job) streamError(w *sse.Writer, status int, e openai.Error) error {
	if j.p.mode == modeMessages {
		return w.Event([]byte("error"), mustJSON(middleware.NewAnthropicError(status, e.Type, e.Message)))
	}
	return w.Error(e)
}
