package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"one-api/common"
	"one-api/middleware"
	"one-api/model"
	"one-api/relay/openai"
	"one-api/relay/sse"
)

// The Responses API and Anthropic's Messages API stream named events
// ("event: response.completed", "event: message_delta") and end without
// [DONE]: their streams are relayed here, event by event and unchanged,
// while a tap reads what billing needs from the few events that carry it.

// serves reports whether ch can answer a request of mode m. The OpenAI
// endpoints go to every channel (the adaptors decide how); the Responses
// API and the Messages API only to channels that speak them.
func (m mode) serves(ch *Channel) bool {
	if f := m.filter(); f != nil {
		return f(ch)
	}
	return true
}

// filter is the channel filter of routing for mode m; nil = every channel.
func (m mode) filter() func(*Channel) bool {
	switch m {
	case modeResponses:
		return servesResponses
	case modeMessages:
		return servesMessages
	case modeCountTokens:
		return speaksMessages
	}
	return nil
}

// namedEvents reports whether the mode's streams and bodies are read by
// the taps of this file rather than as chat completions.
func (m mode) namedEvents() bool { return m == modeResponses || m == modeMessages }

// pick is the routing table's choice among the channels that can serve the
// request's route. A Responses request continuing a response goes first to
// the channel that stored that response.
func (j *job) pick(tried []int) *Channel {
	if len(tried) == 0 && j.p.prevResponse != "" {
		if ch := j.r.previousChannel(j); ch != nil {
			return ch
		}
	}
	return j.table.pickIf(j.ti.Auth.Group, j.p.req.Model, tried, j.r.cfg.Rand, j.p.mode.filter())
}

// noCapableChannel is the answer when channels serve the model but none of
// them speaks the route's protocol.
func (j *job) noCapableChannel() *apiError {
	need := "an Anthropic or OpenAI-protocol channel (Gemini channels cannot serve it)"
	if j.p.mode == modeResponses {
		need = "an OpenAI, Azure, Custom or OpenAI-compatible channel"
	}
	return gatewayError(http.StatusServiceUnavailable, "no_capable_channel",
		fmt.Sprintf("no channel for model %s in group %s can serve %s: it needs %s", j.p.req.Model, j.ti.Auth.Group, j.c.FullPath(), need))
}

// routesTo reports whether ch is among the channels routed for (group, name).
func (t *Table) routesTo(group, name string, id int) bool {
	for _, tr := range t.routes[group][name] {
		for _, ch := range tr.channels {
			if ch.ID == id {
				return true
			}
		}
	}
	return false
}

// upstreamHeaders adds the client headers a route's upstream needs.
func (j *job) upstreamHeaders(h http.Header) {
	if j.p.mode == modeMessages {
		forwardAnthropicHeaders(j.c.Request.Header, h)
	}
}

// eventTap is what the taps learn from a stream.
type eventTap struct {
	usage     openai.Usage
	haveUsage bool
	// final is set by the event that ends the stream (response.completed,
	// message_stop, error, ...); an EOF before it is a cut stream.
	final bool
	text  *[]byte // generated text, for counting when usage is missing
	msg   anthropicUsage
}

// tap reads one event for billing; the event itself goes out unchanged.
func (j *job) tap(t *eventTap, ev sse.Event) {
	if ev.Done {
		t.final = true
		return
	}
	if j.p.mode == modeResponses {
		j.tapResponses(t, ev)
	} else {
		j.tapMessages(t, ev)
	}
}

// streamEvents relays a named-event stream. Like stream: an upstream cut
// ends the client's stream with an error event in the route's dialect, a
// client hang-up cancels upstream, and what was delivered is billed.
func (j *job) streamEvents(resp *http.Response, sent time.Time) {
	defer resp.Body.Close()
	c := j.c
	h := c.Writer.Header()
	copyResponseHeader(h, resp.Header)
	sse.SetHeaders(h)
	c.Writer.WriteHeader(http.StatusOK)
	j.wroteHeader = true
	w := sse.NewWriter(c.Writer)

	text := getText()
	defer putText(text)
	t := eventTap{text: text}
	var delivered, settled bool
	var readErr, writeErr error
	rd := sse.NewReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		j.tap(&t, ev)
		if t.final && !settled && (t.haveUsage || delivered) {
			// Billed before the final event goes out, as stream() bills
			// before [DONE]: a client that saw its stream end was charged
			// even if the process dies right after. Nothing delivered and
			// no usage is left to the end, where a hang-up releases.
			settled = true
			if !t.haveUsage {
				t.usage = j.countUsage(*text)
			}
			j.settle(t.usage)
		}
		if writeErr = w.Event(ev.Name, ev.Data); writeErr != nil {
			break
		}
		if !delivered && j.info != nil {
			j.info.TTFT = time.Since(j.start)
		}
		delivered = true
	}
	j.addUpstream(sent)

	clientGone := writeErr != nil || c.Request.Context().Err() != nil
	if readErr == nil && !t.final {
		readErr = errors.New("stream ended before its final event")
	}
	if readErr != nil && !clientGone {
		if j.info != nil {
			j.info.RelayError = true
		}
		common.Warn("channel #%d: stream cut: %v (request id: %s)", j.ch.ID, readErr, h.Get(middleware.RequestIDHeader))
		_ = w.Event([]byte("error"), j.cutEvent(middleware.WithRequestID(c, "upstream stream was interrupted")))
	}
	if settled {
		return
	}
	if !t.haveUsage && !delivered && (readErr != nil || clientGone) {
		j.release() // nothing reached the client: a failed request
		return
	}
	if !t.haveUsage {
		t.usage = j.countUsage(*text)
	}
	j.settle(t.usage)
}

// cutEvent is the data of the error event that ends a cut stream.
func (j *job) cutEvent(msg string) []byte {
	if j.p.mode == modeMessages {
		return mustJSON(middleware.NewAnthropicError(http.StatusBadGateway, "api_error", msg))
	}
	// The Responses API's "error" event.
	return mustJSON(struct {
		Type    string  `json:"type"`
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Param   *string `json:"param"`
	}{"error", "stream_interrupted", msg, nil})
}

// mustJSON encodes values whose encoding cannot fail (plain structs).
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return b
}

// bodyUsage is the usage of a complete (non-stream) answer, counted
// locally when upstream reported none.
func (j *job) bodyUsage(body []byte) openai.Usage {
	var u openai.Usage
	var ok bool
	if j.p.mode == modeResponses {
		u, ok = j.responsesBodyUsage(body)
	} else {
		u, ok = j.messagesBodyUsage(body)
	}
	if ok {
		return u
	}
	text := getText()
	defer putText(text)
	if j.p.mode == modeResponses {
		*text = openai.AppendResponsesText(*text, body)
	} else {
		*text = appendMessageText(*text, body)
	}
	return j.countUsage(*text)
}

// promptText is the prompt material of a Responses or Messages request
// (input or messages, instructions or system), for local counting.
func promptText(p *parsed) []byte { return openai.AppendPromptText(nil, p.body) }

// routeNote names the route in the consume log's content, after one-api's
// ratio text, with the token details that the formula folds in.
func routeNote(route string, details ...any) string {
	s := ", route " + route
	for i := 0; i+1 < len(details); i += 2 {
		s += fmt.Sprintf(", %s %v", details[i], details[i+1])
	}
	return s
}

// responseChannel is a channel a stored response can be fetched from.
func responseChannel(t *Table, id int) (*Channel, bool) {
	ch, ok := t.Channel(id)
	return ch, ok && ch.Status == model.ChannelEnabled
}
