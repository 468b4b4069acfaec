package anthropic

import (
	"encoding/json"
	"fmt"
	"net/http"

	"one-api/relay/adaptor"
	"one-api/relay/openai"
)

// Adaptor serves OpenAI chat completions from the Messages API.
type Adaptor struct{}

var _ adaptor.Adaptor = Adaptor{}

// ConvertRequest converts POST /v1/chat/completions into POST /v1/messages.
func (Adaptor) ConvertRequest(r adaptor.Request) (adaptor.Upstream, error) {
	if r.Path != "/v1/chat/completions" {
		return adaptor.Upstream{}, fmt.Errorf("%w: %s", adaptor.ErrEndpoint, r.Path)
	}
	var in openai.ChatRequest
	if err := json.Unmarshal(r.Body, &in); err != nil {
		return adaptor.Upstream{}, fmt.Errorf("%w: %v", openai.ErrInvalidJSON, err)
	}
	in.Model = r.Model
	out, err := FromOpenAI(&in)
	if err != nil {
		return adaptor.Upstream{}, err
	}
	body, err := json.Marshal(out)
	if err != nil {
		return adaptor.Upstream{}, fmt.Errorf("encode messages request: %w", err)
	}
	h := http.Header{}
	h.Set("anthropic-version", Version)
	return adaptor.Upstream{Path: "/v1/messages", Body: body, Header: h}, nil
}

// ConvertResponse converts a Messages API answer.
func (Adaptor) ConvertResponse(st *adaptor.State, body []byte) ([]byte, openai.Usage, bool, error) {
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, openai.Usage{}, false, fmt.Errorf("decode messages answer: %w", err)
	}
	c := ToOpenAI(&r, st.Model, st.Created)
	out, err := json.Marshal(c)
	if err != nil {
		return nil, openai.Usage{}, false, err
	}
	return out, c.Usage.Billing(), r.Usage.InputTokens+r.Usage.OutputTokens > 0, nil
}

// ConvertError converts an error answer (see OpenAIError).
func (Adaptor) ConvertError(status int, body []byte) (int, openai.Error) {
	return OpenAIError(status, body)
}

// NewStream starts a stream conversion.
func (Adaptor) NewStream(st *adaptor.State) adaptor.Stream { return NewStream(st) }
