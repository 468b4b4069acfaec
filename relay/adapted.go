package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"one-api/common"
	"one-api/middleware"
	"one-api/relay/adaptor"
	"one-api/relay/openai"
	"one-api/relay/sse"
)

// attemptAdapted is attempt for a channel whose upstream speaks another
// protocol than the client: the request is converted by a before it goes
// out, and the answer, a stream event by event, or an error is converted
// back. That is an OpenAI client in front of an Anthropic or Gemini
// channel (ch.adaptor), or an Anthropic Messages client in front of an
// OpenAI-protocol channel (anthropic.Reverse; j.reverse()). Retries,
// auto-disable and billing work as for OpenAI channels.
func (j *job) attemptAdapted(ch *Channel, a adaptor.Adaptor) (*apiError, bool) {
	c := j.c
	// As for OpenAI channels: ended by the client leaving, by EndInFlight
	// at the shutdown deadline, or by a stream stalling.
	ctx, cancel := j.r.attemptContext(c.Request.Context())
	defer cancel(nil)
	upModel := ch.upstreamModel(j.p.req.Model)
	up, err := a.ConvertRequest(adaptor.Request{Path: c.FullPath(), Model: upModel, Body: j.p.body, Stream: j.p.req.Stream})
	if errors.Is(err, adaptor.ErrEndpoint) {
		// Another channel of the model may speak OpenAI and serve it.
		return gatewayError(http.StatusBadRequest, "unsupported_endpoint",
			fmt.Sprintf("%s is not supported by channel #%d's type", c.FullPath(), ch.ID)), true
	}
	if err != nil {
		return gatewayError(http.StatusBadRequest, "invalid_request", err.Error()), false
	}
	req, err := j.adaptedRequest(ctx, ch, upModel, up)
	if err != nil {
		return internalError("build_request_failed", fmt.Errorf("channel #%d: %w", ch.ID, err)), false
	}
	sent := time.Now()
	resp, err := j.r.cfg.Client.Do(req)
	if err != nil {
		j.addUpstream(sent)
		return j.transportFailure(ctx, err, "")
	}
	st := &adaptor.State{Path: c.FullPath(), Model: j.p.req.Model, Created: time.Now().Unix(), IncludeUsage: j.p.req.IncludeUsage,
		PromptTokens: func() int { return countPrompt(j.p, upModel) }}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		errBody, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		j.addUpstream(sent)
		status, body := a.ConvertError(resp.StatusCode, errBody)
		body.Message, body.Param = redact(body.Message, ch.Key), redact(body.Param, ch.Key)
		disabled := j.r.maybeDisable(ctx, j.opts, ch, status, body)
		return &apiError{status: status, body: body}, disabled || status == http.StatusTooManyRequests || status >= 500
	}
	if j.p.req.Stream && isEventStream(resp.Header.Get("Content-Type")) {
		resp.Body = watchIdle(resp.Body, j.r.cfg.StreamingTimeout, cancel)
		return j.streamAdapted(ctx, resp, sent, a.NewStream(st))
	}
	return j.finishAdapted(ctx, resp, sent, a, st)
}

// reverse reports whether the client speaks Anthropic's Messages API to a
// converted OpenAI-protocol channel: its request goes where an OpenAI
// client's would (path prefix, Azure deployment), its stream gets named
// events, and the text for a local count is read from upstream's OpenAI
// chunks rather than from what the client gets.
func (j *job) reverse() bool { return j.p.mode == modeMessages }

// settleAdapted bills a converted answer; the consume log of a Messages
// request names its route and the conversion (set here, on success, so a
// native attempt after a failed converted one logs its own note).
func (j *job) settleAdapted(u openai.Usage) {
	if j.reverse() {
		j.note = routeNote("/v1/messages", "converted to", "chat completions")
	}
	j.settle(u)
}

// adaptedRequest builds the converted request to ch.
func (j *job) adaptedRequest(ctx context.Context, ch *Channel, upModel string, up adaptor.Upstream) (*http.Request, error) {
	if j.reverse() {
		return newUpstreamRequest(ctx, ch, up.Path, "", "", upModel, up.Body, "application/json", j.p.req.Stream)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.BaseURL+up.Path, bytes.NewReader(up.Body))
	if err != nil {
		return nil, err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	if j.p.req.Stream {
		h.Set("Accept", "text/event-stream")
	} else {
		h.Set("Accept", "application/json")
	}
	name, value := ch.authHeader.Header(ch.Key)
	h.Set(name, value)
	for k, vv := range up.Header {
		h[k] = vv
	}
	return req, nil
}

// finishAdapted converts and relays a complete answer, then bills it.
func (j *job) finishAdapted(ctx context.Context, resp *http.Response, sent time.Time, a adaptor.Adaptor, st *adaptor.State) (*apiError, bool) {
	defer resp.Body.Close()
	buf := getBuffer()
	defer putBuffer(buf)
	if e, retry := j.readAnswer(ctx, resp, sent, buf); e != nil {
		return e, retry
	}
	body, usage, ok, err := a.ConvertResponse(st, buf.Bytes())
	if err != nil {
		e := transportError(failNetwork, fmt.Errorf("channel #%d: %w", j.ch.ID, err))
		e.body.Message, e.body.Code = "upstream answer could not be read", "bad_response"
		return e, true
	}
	if !ok {
		text := getText()
		if j.reverse() {
			*text = openai.AppendCompletionText(*text, buf.Bytes())
		} else {
			*text = openai.AppendCompletionText(*text, body)
		}
		usage = j.countUsage(*text)
		putText(text)
	}
	j.settleAdapted(usage) // before the answer goes out, as in finish
	w := j.c.Writer
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	j.wroteHeader = true
	_, _ = w.Write(body)
	return nil, false
}

// streamAdapted relays a converted stream. As in stream: every event is
// flushed as converted, a cut or an upstream error event ends the client's
// stream with an error event (never a [DONE] the upstream did not
// earn), and what was delivered is billed, with upstream's usage or else
// the tokenizer's count. A Messages client gets named events (the name is
// the payload's "type") and no [DONE]: adaptor.Done only marks the end.
// As in stream, the status line waits for upstream's first event: a stream
// that fails before it may go to another channel.
func (j *job) streamAdapted(ctx context.Context, resp *http.Response, sent time.Time, conv adaptor.Stream) (*apiError, bool) {
	defer resp.Body.Close()
	c := j.c
	rd := sse.NewReader(resp.Body)
	first, err := rd.Next()
	if err != nil {
		j.addUpstream(sent)
		return j.noFirstEvent(ctx, err)
	}
	j.prepareCount()
	h := c.Writer.Header()
	sse.SetHeaders(h)
	c.Writer.WriteHeader(http.StatusOK)
	j.wroteHeader = true
	w := sse.NewWriter(c.Writer)

	text := getText()
	defer putText(text)
	var (
		delivered bool
		done      bool // [DONE] went out: the stream finished, whatever the client does next
		writeErr  error
		failure   error // the upstream's stream failed: cut, bad event, error event
	)
	reverse := j.reverse()
	var settled bool
	// settleBeforeEnd bills a finished stream before its final event
	// ([DONE], or message_stop on /v1/messages) goes out, as stream() does:
	// a client that saw its stream end was charged even if the process
	// dies right after. Nothing delivered and no usage is left to the end.
	settleBeforeEnd := func() {
		usage, haveUsage := conv.Usage()
		if settled || (!haveUsage && !delivered) {
			return
		}
		settled = true
		if !haveUsage {
			usage = j.countUsage(*text)
		}
		j.settleAdapted(usage)
	}
	emit := func(p []byte) error {
		if bytes.Equal(p, adaptor.Done) {
			if !reverse {
				settleBeforeEnd()
				writeErr = w.Done()
			}
			done = writeErr == nil
			return writeErr
		}
		var name []byte
		if reverse {
			name = openai.EventType(p)
			if string(name) == "message_stop" {
				settleBeforeEnd()
			}
		}
		if err := w.Event(name, p); err != nil {
			writeErr = err
			return err
		}
		if !delivered && j.info != nil {
			j.info.TTFT = time.Since(j.start)
		}
		delivered = true
		if !reverse {
			*text = openai.AppendCompletionText(*text, p)
		}
		return nil
	}
	ev, err := first, error(nil)
	for primed := true; failure == nil && writeErr == nil; primed = false {
		if !primed {
			ev, err = rd.Next()
		}
		switch {
		case errors.Is(err, io.EOF):
			if err := conv.End(emit); err != nil && writeErr == nil {
				failure = err
			}
		case err != nil:
			failure = err
		case ev.Done: // not part of these protocols; the converter decides the end
			continue
		default:
			if reverse {
				*text = openai.AppendCompletionText(*text, ev.Data)
			}
			if err := conv.Event(ev.Name, ev.Data, emit); err != nil && writeErr == nil {
				failure = err
			}
		}
		if err != nil {
			break
		}
	}
	j.addUpstream(sent)
	if done && failure == nil {
		drainForReuse(resp.Body) // the client has its final event
	}

	clientGone := writeErr != nil || c.Request.Context().Err() != nil
	stopped := errors.Is(context.Cause(ctx), ErrShuttingDown) || errors.Is(context.Cause(ctx), errStalled)
	if failure != nil && !clientGone && stopped {
		// The gateway's deadline or STREAMING_TIMEOUT cut it: say which.
		j.endStream(ctx, w)
	} else if failure != nil && !clientGone {
		if j.info != nil {
			j.info.RelayError = true
		}
		e := openai.Error{Message: "upstream stream was interrupted", Type: openai.TypeUpstream, Code: "stream_interrupted"}
		if ue := (*adaptor.UpstreamError)(nil); errors.As(failure, &ue) {
			e = ue.Err
		}
		common.Warn("channel #%d: stream failed: %v (request id: %s)", j.ch.ID, failure, h.Get(middleware.RequestIDHeader))
		e.Message = middleware.WithRequestID(c, e.Message)
		_ = j.streamError(w, http.StatusBadGateway, e)
	}
	if settled {
		return nil, false
	}
	usage, haveUsage := conv.Usage()
	// A client that hangs up right after [DONE] cancels the request
	// context: that is a finished stream, billed with upstream's usage.
	cut := !done && (failure != nil || clientGone)
	if !delivered && cut {
		j.release()
		return nil, false
	}
	switch {
	case !haveUsage:
		usage = j.countUsage(*text)
	case cut:
		// The final count never came (Anthropic's message_start says one
		// output token): the completion is what was delivered.
		usage.CompletionTokens = countText(j.ch.upstreamModel(j.p.req.Model), *text)
		usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	}
	j.settleAdapted(usage)
	return nil, false
}
