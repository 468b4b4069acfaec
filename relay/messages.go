package relay

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/metrics"
	"one-api/middleware"
	"one-api/model"
	"one-api/relay/adaptor"
	"one-api/relay/adaptor/anthropic"
	"one-api/relay/openai"
	"one-api/relay/sse"
)

// Anthropic's Messages API (POST /v1/messages) is forwarded natively to
// Anthropic channels: the body and the named stream events go through
// unchanged, and billing reads the usage of message_start and
// message_delta. OpenAI-protocol channels serve it converted
// (anthropic.Reverse, through attemptAdapted). Errors on these routes are
// in Anthropic's shape (middleware.AnthropicPath).

// speaksMessages reports whether ch's upstream has the Messages API itself.
func speaksMessages(ch *Channel) bool { return ch.Type == model.ChannelAnthropic }

// servesMessages reports whether ch can answer POST /v1/messages: natively,
// or converted to chat completions on an OpenAI-protocol channel (OpenAI,
// Azure and the OpenAI-compatible vendor types; not Gemini).
func servesMessages(ch *Channel) bool {
	return speaksMessages(ch) || ch.adaptor == nil && !ch.unsupported
}

// messagesConversion is the adaptor of a /v1/messages request to ch: nil
// when ch speaks the Messages API (passthrough), else the reverse
// conversion. OpenAI's own channels get max_completion_tokens, which its
// reasoning models require.
func messagesConversion(ch *Channel) adaptor.Adaptor {
	if speaksMessages(ch) {
		return nil
	}
	return anthropic.Reverse{MaxCompletionTokens: ch.Type == model.ChannelOpenAI}
}

// forwardAnthropicHeaders passes the client's API version and beta flags on
// (prompt caching, extended output and the like are opted into with them).
func forwardAnthropicHeaders(src, dst http.Header) {
	for _, k := range []string{"Anthropic-Version", "Anthropic-Beta"} {
		if v := src.Values(k); len(v) > 0 {
			dst[k] = v
		}
	}
}

// anthropicUsage is Anthropic's usage object. Fields are pointers so that
// message_delta, which repeats only some of them, overrides only those.
type anthropicUsage struct {
	InputTokens              *int `json:"input_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
}

func (u *anthropicUsage) merge(v *anthropicUsage) {
	for _, f := range [...]struct{ dst, src **int }{
		{&u.InputTokens, &v.InputTokens}, {&u.CacheCreationInputTokens, &v.CacheCreationInputTokens},
		{&u.CacheReadInputTokens, &v.CacheReadInputTokens}, {&u.OutputTokens, &v.OutputTokens},
	} {
		if *f.src != nil {
			*f.dst = *f.src
		}
	}
}

func intOf(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// messagesUsage maps Anthropic's usage onto one-api's formula: Anthropic
// counts cache writes and cache reads apart from input_tokens, so the
// prompt is all three (priced as prompt tokens: one-api has no cache
// ratio); output_tokens are the completion. The cache figures go into the
// consume log's content.
func (j *job) messagesUsage(u anthropicUsage) openai.Usage {
	in, cw, cr, out := intOf(u.InputTokens), intOf(u.CacheCreationInputTokens), intOf(u.CacheReadInputTokens), intOf(u.OutputTokens)
	j.note = routeNote("/v1/messages", "cache write tokens", cw, "cache read tokens", cr)
	return openai.Usage{PromptTokens: in + cw + cr, CompletionTokens: out, TotalTokens: in + cw + cr + out}
}

// tapMessages reads usage from message_start and message_delta (decoded:
// two small events a stream), and the text of deltas only when
// message_start carried no usage, for counting.
func (j *job) tapMessages(t *eventTap, ev sse.Event) {
	name := ev.Name
	if len(name) == 0 {
		name = openai.EventType(ev.Data)
	}
	switch string(name) {
	case "message_start":
		var v struct {
			Message struct {
				Usage *anthropicUsage `json:"usage"`
			} `json:"message"`
		}
		if json.Unmarshal(ev.Data, &v) == nil && v.Message.Usage != nil {
			t.msg.merge(v.Message.Usage)
			t.usage, t.haveUsage = j.messagesUsage(t.msg), true
		}
	case "message_delta":
		var v struct {
			Usage *anthropicUsage `json:"usage"`
		}
		if json.Unmarshal(ev.Data, &v) == nil && v.Usage != nil {
			t.msg.merge(v.Usage)
			t.usage, t.haveUsage = j.messagesUsage(t.msg), true
		}
	case "content_block_delta":
		if t.haveUsage {
			return
		}
		var v struct {
			Delta struct {
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
				Thinking    string `json:"thinking"`
			} `json:"delta"`
		}
		if json.Unmarshal(ev.Data, &v) == nil {
			*t.text = append(append(append(*t.text, v.Delta.Text...), v.Delta.PartialJSON...), v.Delta.Thinking...)
		}
	case "message_stop", "error":
		t.final = true
	}
}

// messagesBodyUsage reads the usage of a complete message.
func (j *job) messagesBodyUsage(body []byte) (openai.Usage, bool) {
	var v struct {
		Usage *anthropicUsage `json:"usage"`
	}
	if json.Unmarshal(body, &v) != nil || v.Usage == nil {
		return openai.Usage{}, false
	}
	var u anthropicUsage
	u.merge(v.Usage)
	return j.messagesUsage(u), true
}

// appendMessageText appends the generated text of a complete message (text,
// thinking and tool inputs), for counting when it reports no usage.
func appendMessageText(dst, body []byte) []byte {
	var v struct {
		Content []struct {
			Text     string          `json:"text"`
			Thinking string          `json:"thinking"`
			Input    json.RawMessage `json:"input"`
		} `json:"content"`
	}
	if json.Unmarshal(body, &v) != nil {
		return dst
	}
	for _, b := range v.Content {
		dst = append(append(append(dst, b.Text...), b.Thinking...), b.Input...)
	}
	return dst
}

// countTokensSourceHeader tells the client where the count of
// /v1/messages/count_tokens came from: "channel" (Anthropic counted it) or
// "estimate" (the gateway's tokenizer; no Anthropic channel serves the
// model, or it failed).
const countTokensSourceHeader = "X-Oneapi-Token-Count-Source"

// countTokens answers POST /v1/messages/count_tokens. Counting is free at
// Anthropic and free here: nothing is reserved, billed or logged.
func (r *Relay) countTokens(c *gin.Context) {
	ti := middleware.TokenInfoFrom(c)
	p, err := r.parse(c)
	if ti == nil || err != nil || p == nil {
		writeError(c, internalError("parse_failed", fmt.Errorf("count_tokens: token info %v, parse: %w", ti != nil, err)))
		return
	}
	t := r.table.Load()
	var ch *Channel
	if id := ti.ChannelID; id != 0 {
		if fc, ok := t.Channel(id); ok && fc.Status == model.ChannelEnabled && speaksMessages(fc) {
			ch = fc
		}
	} else {
		ch = t.pickIf(ti.Auth.Group, p.req.Model, nil, r.cfg.Rand, speaksMessages)
	}
	if ch != nil && r.forwardCountTokens(c, p, ch) {
		return
	}
	c.Writer.Header().Set(countTokensSourceHeader, "estimate")
	writeJSON(c, http.StatusOK, struct {
		InputTokens int `json:"input_tokens"`
	}{countText(p.req.Model, promptText(p))})
}

// forwardCountTokens asks ch to count. It returns false, having written
// nothing, when the channel failed in a way the local estimate can stand in
// for (unreachable, a dead key, 429, 5xx); a 400 (the client's request is
// malformed) passes through.
func (r *Relay) forwardCountTokens(c *gin.Context, p *parsed, ch *Channel) bool {
	if info := metrics.RequestInfoFrom(c.Request.Context()); info != nil {
		info.Model, info.ChannelID = p.req.Model, ch.ID
	}
	upModel := ch.upstreamModel(p.req.Model)
	body := p.body
	if upModel != p.req.Model {
		var err error
		if body, err = openai.Rewrite(p.body, upModel, false); err != nil {
			return false
		}
	}
	ctx := c.Request.Context()
	req, err := newUpstreamRequest(ctx, ch, "/v1/messages/count_tokens", "", "", upModel, body, "application/json", false)
	if err != nil {
		return false
	}
	forwardAnthropicHeaders(c.Request.Header, req.Header)
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		common.Warn("channel #%d: count_tokens failed, answering an estimate: %v", ch.ID, err)
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusBadRequest {
		common.Warn("channel #%d: count_tokens answered %d, answering an estimate", ch.ID, resp.StatusCode)
		return false
	}
	copyResponseHeader(c.Writer.Header(), resp.Header)
	c.Writer.Header().Set(countTokensSourceHeader, "channel")
	c.Writer.WriteHeader(resp.StatusCode)
	buf := copyBufPool.Get().(*[]byte)
	_, _ = io.CopyBuffer(c.Writer, resp.Body, *buf)
	copyBufPool.Put(buf)
	return true
}
