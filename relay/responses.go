package relay

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"one-api/metrics"
	"one-api/middleware"
	"one-api/model"
	"one-api/relay/openai"
	"one-api/relay/sse"
)

// OpenAI's Responses API (POST /v1/responses) is forwarded unchanged to
// channels that speak it, billed from the usage of its response object, and
// the channel that created each response is remembered so that GET and
// DELETE /v1/responses/:id (and a later request's previous_response_id) go
// back to it: a response is stored under the upstream account that made it.

// servesResponses reports whether ch's upstream has the Responses API:
// OpenAI itself, Azure (its v1 surface) and the OpenAI-protocol types an
// operator points at an OpenAI-like server.
func servesResponses(ch *Channel) bool {
	switch ch.Type {
	case model.ChannelOpenAI, model.ChannelAzure, model.ChannelCustom, model.ChannelOpenAICompatible:
		return true
	}
	return false
}

// responsesModel is the model named in the body sent to ch: on Azure's v1
// surface it is the deployment, named after the model without dots as for
// chat (one-api's rule; model_mapping names a deployment exactly).
func responsesModel(ch *Channel, upModel string) string {
	if ch.Type == model.ChannelAzure {
		return strings.ReplaceAll(upModel, ".", "")
	}
	return upModel
}

// parseResponses reads the Responses-only fields of the request.
func (p *parsed) parseResponses() error {
	rr, err := openai.ParseResponsesRequest(p.body)
	if err != nil {
		return err
	}
	if rr.MaxOutputTokens > 0 {
		p.req.MaxCompletionTokens = rr.MaxOutputTokens
	}
	p.prevResponse = rr.PreviousResponseID
	return nil
}

// tapResponses reads the response id as soon as it is known (so that it can
// be fetched while the stream runs) and the usage of the final event.
func (j *job) tapResponses(t *eventTap, ev sse.Event) {
	name := ev.Name
	if len(name) == 0 {
		name = openai.EventType(ev.Data)
	}
	switch s := string(name); {
	case strings.HasSuffix(s, ".delta"):
		*t.text = openai.AppendResponsesText(*t.text, ev.Data)
	case s == "response.created", s == "response.in_progress", s == "response.queued":
		if id, _, _ := openai.ResponseFacts(ev.Data); id != "" {
			j.r.responses.put(id, responseOwner{channelID: j.ch.ID, userID: j.ti.Auth.UserID})
		}
	case s == "response.completed", s == "response.incomplete", s == "response.failed":
		t.final = true
		id, u, ok := openai.ResponseFacts(ev.Data)
		if id != "" {
			j.r.responses.put(id, responseOwner{channelID: j.ch.ID, userID: j.ti.Auth.UserID})
		}
		if ok {
			t.usage, t.haveUsage = j.responsesUsage(u), true
		}
	case s == "error":
		t.final = true
	}
}

// responsesBodyUsage reads a complete response object.
func (j *job) responsesBodyUsage(body []byte) (openai.Usage, bool) {
	id, u, ok := openai.ResponseFacts(body)
	if id != "" {
		j.r.responses.put(id, responseOwner{channelID: j.ch.ID, userID: j.ti.Auth.UserID})
	}
	if !ok {
		return openai.Usage{}, false
	}
	return j.responsesUsage(u), true
}

// responsesUsage maps the Responses usage onto one-api's formula, as chat's
// usage is: input_tokens are prompt tokens (cached ones included, priced as
// prompt tokens: one-api has no cache ratio), output_tokens are completion
// tokens (reasoning ones included, as in chat's completion_tokens). The
// details go into the consume log's content.
func (j *job) responsesUsage(u openai.ResponsesUsage) openai.Usage {
	j.note = routeNote("/v1/responses", "cached tokens", u.CachedTokens, "reasoning tokens", u.ReasoningTokens)
	return openai.Usage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.TotalTokens}
}

// maxResponseOwners bounds the memory of which channel created which
// response: about 100 bytes an entry, so 6.5 MB at most.
const maxResponseOwners = 1 << 16

// responseOwner is who may fetch a response and where it lives.
type responseOwner struct {
	channelID int
	userID    int
}

// responseOwners maps response ids to their owners, forgetting the oldest
// beyond maxResponseOwners. It is in memory on one node: after a restart,
// or on another node behind the same load balancer, an id is unknown and
// GET/DELETE answer 404 (docs/clients.md says so).
type responseOwners struct {
	mu   sync.Mutex
	m    map[string]responseOwner
	ring []string // insertion order, for eviction
	next int
}

func (o *responseOwners) put(id string, own responseOwner) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = make(map[string]responseOwner)
	}
	if _, ok := o.m[id]; ok {
		o.m[id] = own
		return
	}
	if len(o.ring) < maxResponseOwners {
		o.ring = append(o.ring, id)
	} else {
		delete(o.m, o.ring[o.next])
		o.ring[o.next] = id
		o.next = (o.next + 1) % maxResponseOwners
	}
	o.m[id] = own
}

func (o *responseOwners) get(id string) (responseOwner, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	own, ok := o.m[id]
	return own, ok
}

func (o *responseOwners) forget(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, id)
}

// previousChannel is the channel that created the response a request
// continues, if this node knows it, the caller owns it, and it still serves
// the request's model for the caller's group.
func (r *Relay) previousChannel(j *job) *Channel {
	own, ok := r.responses.get(j.p.prevResponse)
	if !ok || own.userID != j.ti.Auth.UserID {
		return nil
	}
	ch, ok := responseChannel(j.table, own.channelID)
	if !ok || !servesResponses(ch) || !j.table.routesTo(j.ti.Auth.Group, j.p.req.Model, ch.ID) {
		return nil
	}
	return ch
}

// storedResponse forwards GET /v1/responses/:id (and its input_items) and
// DELETE /v1/responses/:id to the channel that created the response. They
// cost nothing upstream and are not billed or logged as consumption.
func (r *Relay) storedResponse(c *gin.Context) {
	ti := middleware.TokenInfoFrom(c)
	if ti == nil {
		writeError(c, internalError("no_token_info", fmt.Errorf("relay route registered without token auth")))
		return
	}
	id := c.Param("id")
	own, ok := r.responses.get(id)
	var ch *Channel
	if ok && own.userID == ti.Auth.UserID {
		ch, ok = responseChannel(r.table.Load(), own.channelID)
	}
	if !ok || ch == nil {
		writeError(c, &apiError{status: http.StatusNotFound, body: openai.Error{
			Message: fmt.Sprintf("No response found with id '%s' on this gateway: it remembers which channel created a response only in memory, on the node that served it, for its last %d responses", id, maxResponseOwners),
			Type:    openai.TypeInvalidRequest, Code: "response_not_found",
		}})
		return
	}
	if info := metrics.RequestInfoFrom(c.Request.Context()); info != nil {
		info.ChannelID = ch.ID
	}
	path := "/v1/responses/" + url.PathEscape(id) + strings.TrimPrefix(c.FullPath(), "/v1/responses/:id")
	req, err := http.NewRequestWithContext(c.Request.Context(), c.Request.Method, upstreamURL(ch, path, c.Request.URL.RawQuery, ""), nil)
	if err != nil {
		writeError(c, internalError("build_request_failed", fmt.Errorf("channel #%d: %w", ch.ID, err)))
		return
	}
	if a := c.GetHeader("Accept"); a != "" {
		req.Header.Set("Accept", a)
	}
	setChannelAuth(req.Header, ch)
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		writeError(c, transportError(classifyTransportError(c.Request.Context(), err), fmt.Errorf("channel #%d: %w", ch.ID, err)))
		return
	}
	defer resp.Body.Close()
	if c.Request.Method == http.MethodDelete && resp.StatusCode/100 == 2 {
		r.responses.forget(id)
	}
	copyResponseHeader(c.Writer.Header(), resp.Header)
	c.Writer.WriteHeader(resp.StatusCode)
	copyFlushing(c.Writer, resp.Body, isEventStream(resp.Header.Get("Content-Type")))
}

// copyFlushing copies an upstream body to the client, flushing after every
// read when it is a stream (GET /v1/responses/:id?stream=true).
func copyFlushing(w gin.ResponseWriter, body io.Reader, flush bool) {
	buf := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(buf)
	if !flush {
		_, _ = io.CopyBuffer(w, body, *buf)
		return
	}
	for {
		n, err := body.Read(*buf)
		if n > 0 {
			if _, werr := w.Write((*buf)[:n]); werr != nil {
				return
			}
			w.Flush()
		}
		if err != nil {
			return
		}
	}
}

// writeJSON writes a small JSON answer built by the gateway.
func writeJSON(c *gin.Context, status int, v any) {
	c.Writer.Header().Set("Content-Type", "application/json")
	c.Writer.WriteHeader(status)
	_, _ = c.Writer.Write(bytes.TrimSpace(mustJSON(v)))
}
