package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/metrics"
	"one-api/middleware"
	"one-api/model"
	"one-api/relay/adaptor"
	"one-api/relay/channeltype"
	"one-api/relay/openai"
)

// job is one relay request on its way through channel choice, billing and
// the attempts. Only the handler goroutine touches it.
type job struct {
	r      *Relay
	c      *gin.Context
	ti     *middleware.TokenInfo
	p      *parsed
	opts   *model.Options
	prices *prices
	table  *Table
	info   *metrics.RequestInfo // nil when metrics are off
	start  time.Time

	ch       *Channel // the channel of the current attempt
	tried    []int
	triedBuf [4]int

	bill      bill // the price facts and the reservation
	ledgerCtx context.Context
	// wroteHeader is set once a byte may have reached the client: from then
	// on there is no retry and no JSON error answer.
	wroteHeader bool
	// note is appended to the consume log's content (routes other than
	// the OpenAI passthrough name themselves and their token details).
	note string
}

// serve is the handler of every POST endpoint that goes upstream.
func (r *Relay) serve(c *gin.Context) {
	ti := middleware.TokenInfoFrom(c)
	if ti == nil {
		writeError(c, internalError("no_token_info", errors.New("relay route registered without token auth")))
		return
	}
	p, err := r.parse(c)
	if err != nil || p == nil {
		// Token auth parsed the body already, so this is a wiring fault.
		writeError(c, internalError("parse_failed", fmt.Errorf("parse request: %w", err)))
		return
	}
	j := &job{
		r: r, c: c, ti: ti, p: p, opts: r.cfg.Options.Get(), prices: r.prices.Load(), table: r.table.Load(),
		info: metrics.RequestInfoFrom(c.Request.Context()), start: time.Now(),
	}
	j.tried = j.triedBuf[:0]
	// Whatever happens below (even a panic), a reservation that was neither
	// settled nor released goes back: release is a no-op after either.
	defer j.release()
	if j.info != nil {
		j.info.Model = p.req.Model
		j.info.Stream = p.req.Stream
	}
	if e := j.run(); e != nil {
		if j.info != nil {
			j.info.RelayError = true
		}
		if !j.wroteHeader && c.Request.Context().Err() == nil {
			writeError(c, e)
		}
	}
}

// run chooses a channel, reserves quota and makes the attempts. It returns
// the error to answer, or nil when the response (or a stream, even a cut
// one) was written and billed.
func (j *job) run() *apiError {
	ch, e := j.firstChannel()
	if e != nil {
		return e
	}
	if e := j.reserve(ch); e != nil {
		return e
	}
	for attempt := 0; ; attempt++ {
		j.ch = ch
		j.tried = append(j.tried, ch.ID)
		if j.info != nil {
			j.info.ChannelID, j.info.Attempts = ch.ID, attempt+1
		}
		e, retry := j.attempt(ch)
		if e == nil {
			return nil
		}
		if !retry || j.wroteHeader || j.ti.ChannelID != 0 || attempt >= j.opts.RetryTimes {
			j.release()
			return e
		}
		// A channel auto-disabled just now has left the table.
		j.table = j.r.table.Load()
		next := j.pick(j.tried)
		if next == nil {
			j.release()
			return e
		}
		ch = next
	}
}

// firstChannel is the forced channel of an admin key, or the routing
// table's choice for (group, model).
func (j *job) firstChannel() (*Channel, *apiError) {
	if id := j.ti.ChannelID; id != 0 {
		ch, ok := j.table.Channel(id)
		switch {
		case !ok:
			return nil, gatewayError(http.StatusBadRequest, "channel_not_found", fmt.Sprintf("channel #%d does not exist", id))
		case ch.Status != model.ChannelEnabled:
			return nil, gatewayError(http.StatusForbidden, "channel_disabled", fmt.Sprintf("channel #%d is disabled", id))
		case ch.unsupported:
			return nil, gatewayError(http.StatusBadRequest, "channel_type_not_supported", channeltype.UnsupportedMessage(channeltype.Lookup(ch.Type)))
		case !j.p.mode.serves(ch):
			return nil, gatewayError(http.StatusBadRequest, "channel_cannot_serve", fmt.Sprintf("channel #%d cannot serve %s", id, j.c.FullPath()))
		}
		return ch, nil
	}
	ch := j.pick(nil)
	if ch == nil && j.table.Serves(j.ti.Auth.Group, j.p.req.Model) {
		return nil, j.noCapableChannel()
	}
	if ch == nil {
		if !j.table.Lists(j.p.req.Model) {
			// No channel has the model at all: OpenAI's answer, which the
			// SDKs do not retry (they retry a 503 twice). one-api answered
			// 503 here (docs/compatibility.md).
			return nil, &apiError{status: http.StatusNotFound, body: openai.Error{
				Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", j.p.req.Model),
				Type:    "invalid_request_error", Code: "model_not_found",
			}}
		}
		return nil, gatewayError(http.StatusServiceUnavailable, "model_not_available",
			fmt.Sprintf("no available channel for model %s in group %s", j.p.req.Model, j.ti.Auth.Group))
	}
	return ch, nil
}

// attempt sends the request to ch once. It returns nil when the response
// was relayed and billed; otherwise the error for the client and whether
// another channel may be tried. Every failed attempt leaves one [WARN].
func (j *job) attempt(ch *Channel) (*apiError, bool) {
	e, retry := j.try(ch)
	if e != nil && j.c.Request.Context().Err() == nil && e.body.Code != "server_shutting_down" {
		j.warnAttempt(e.status, errorType(e))
	}
	return e, retry
}

func errorType(e *apiError) string {
	if code, ok := e.body.Code.(string); ok && code != "" {
		return e.body.Type + "/" + code
	}
	return e.body.Type
}

func (j *job) try(ch *Channel) (*apiError, bool) {
	c := j.c
	if j.r.stopped.Err() != nil {
		return shuttingDown(), false
	}
	if a := j.conversion(ch); a != nil {
		return j.attemptAdapted(ch, a)
	}
	ctx, cancel := j.r.attemptContext(c.Request.Context())
	defer cancel(nil)
	upModel := ch.upstreamModel(j.p.req.Model)
	body, err := j.upstreamBody(upModel)
	if err != nil {
		return gatewayError(http.StatusBadRequest, "invalid_request", err.Error()), false
	}
	req, err := newUpstreamRequest(ctx, ch, c.FullPath(), c.Request.URL.RawQuery, c.GetHeader("Accept"), upModel, body, j.p.contentType, j.p.req.Stream)
	if err != nil {
		return internalError("build_request_failed", fmt.Errorf("channel #%d: %w", ch.ID, err)), false
	}
	j.upstreamHeaders(req.Header)
	sent := time.Now()
	resp, err := j.r.cfg.Client.Do(req)
	if err != nil {
		j.addUpstream(sent)
		return j.transportFailure(ctx, err, "")
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		errBody, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		j.addUpstream(sent)
		e := upstreamStatusError(resp.StatusCode, errBody, ch.Key)
		disabled := j.r.maybeDisable(ctx, j.opts, ch, resp.StatusCode, e.body)
		return e, disabled || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	}
	if j.p.req.Stream && isEventStream(resp.Header.Get("Content-Type")) {
		resp.Body = watchIdle(resp.Body, j.r.cfg.StreamingTimeout, cancel)
		if j.p.mode.namedEvents() {
			j.streamEvents(resp, sent)
			return nil, false
		}
		return j.stream(ctx, resp, sent)
	}
	return j.finish(ctx, resp, sent)
}

// conversion is the adaptor between the client's protocol and ch's; nil
// when the body passes through. The Responses route only goes to channels
// that speak it; the Messages route is native on Anthropic channels and
// converted on OpenAI-protocol ones.
func (j *job) conversion(ch *Channel) adaptor.Adaptor {
	switch j.p.mode {
	case modeResponses:
		return nil
	case modeMessages:
		return messagesConversion(ch)
	}
	return ch.adaptor
}

// transportFailure answers an attempt whose request or body read failed:
// nothing for a client that left (no retry), 503 when the relay is
// stopping, else 502/504 and a retry on another channel. what names the
// step for the log ("" = the request).
func (j *job) transportFailure(ctx context.Context, err error, what string) (*apiError, bool) {
	if errors.Is(context.Cause(ctx), ErrShuttingDown) && j.c.Request.Context().Err() == nil {
		return shuttingDown(), false
	}
	kind := classifyTransportError(j.c.Request.Context(), err)
	if kind == failCanceled {
		return transportError(failNetwork, err), false
	}
	if what != "" {
		err = fmt.Errorf("%s: %w", what, err)
	}
	return transportError(kind, fmt.Errorf("channel #%d: %w", j.ch.ID, err)), true
}

// upstreamBody is the body for a channel that wants upModel: the client's
// bytes when nothing changes, else a minimal rewrite (model name, and for
// streams include_usage, which billing needs).
func (j *job) upstreamBody(upModel string) ([]byte, error) {
	switch j.p.mode {
	case modeTranscription:
		if upModel != j.p.req.Model {
			return rewriteMultipartModel(j.p.body, j.p.contentType, upModel)
		}
		return j.p.body, nil
	case modeChat, modeCompletions:
		return openai.Rewrite(j.p.body, upModel, j.p.req.Stream)
	case modeResponses:
		upModel = responsesModel(j.ch, upModel)
	}
	if upModel == j.p.req.Model {
		return j.p.body, nil
	}
	return openai.Rewrite(j.p.body, upModel, false)
}

// addUpstream adds the time since sent to the upstream share of the request.
func (j *job) addUpstream(sent time.Time) {
	if j.info != nil {
		j.info.Upstream += time.Since(sent)
	}
}

func isEventStream(contentType string) bool {
	return strings.HasPrefix(strings.TrimSpace(strings.ToLower(contentType)), "text/event-stream")
}

// settleCtx is the context of the ledger and log writes: they must happen
// even when the client has hung up, or the ledger would not be exact.
func (j *job) settleCtx() context.Context {
	if j.ledgerCtx == nil {
		j.ledgerCtx = context.WithoutCancel(j.c.Request.Context())
	}
	return j.ledgerCtx
}
