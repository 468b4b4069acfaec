package gemini

import (
	"encoding/json"
	"fmt"
	"net/url"

	"one-api/relay/adaptor"
	"one-api/relay/openai"
)

// Adaptor serves chat completions and embeddings from the Gemini API.
// Paths are relative to the channel's base URL plus the channel type's
// "/v1beta" prefix: the base URL is the host, as in one-api.
type Adaptor struct{}

var _ adaptor.Adaptor = Adaptor{}

// ConvertRequest converts a chat request into generateContent (or
// streamGenerateContent?alt=sse) and an embeddings request into
// batchEmbedContents.
func (Adaptor) ConvertRequest(r adaptor.Request) (adaptor.Upstream, error) {
	model := url.PathEscape(r.Model)
	switch r.Path {
	case "/v1/chat/completions":
		var in openai.ChatRequest
		if err := json.Unmarshal(r.Body, &in); err != nil {
			return adaptor.Upstream{}, fmt.Errorf("%w: %v", openai.ErrInvalidJSON, err)
		}
		out, err := FromOpenAI(&in)
		if err != nil {
			return adaptor.Upstream{}, err
		}
		body, err := json.Marshal(out)
		if err != nil {
			return adaptor.Upstream{}, fmt.Errorf("encode generateContent request: %w", err)
		}
		path := "/v1beta/models/" + model + ":generateContent"
		if r.Stream {
			path = "/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
		}
		return adaptor.Upstream{Path: path, Body: body}, nil
	case "/v1/embeddings":
		var in openai.EmbeddingRequest
		if err := json.Unmarshal(r.Body, &in); err != nil {
			return adaptor.Upstream{}, fmt.Errorf("%w: %v", openai.ErrInvalidJSON, err)
		}
		out, err := EmbedFromOpenAI(&in, r.Model)
		if err != nil {
			return adaptor.Upstream{}, err
		}
		body, err := json.Marshal(out)
		if err != nil {
			return adaptor.Upstream{}, fmt.Errorf("encode batchEmbedContents request: %w", err)
		}
		return adaptor.Upstream{Path: "/v1beta/models/" + model + ":batchEmbedContents", Body: body}, nil
	}
	return adaptor.Upstream{}, fmt.Errorf("%w: %s", adaptor.ErrEndpoint, r.Path)
}

// ConvertResponse converts a generateContent or batchEmbedContents answer.
func (Adaptor) ConvertResponse(st *adaptor.State, body []byte) ([]byte, openai.Usage, bool, error) {
	if st.Path == "/v1/embeddings" {
		var r BatchEmbedResponse
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, openai.Usage{}, false, fmt.Errorf("decode batchEmbedContents answer: %w", err)
		}
		prompt := 0
		if st.PromptTokens != nil {
			prompt = st.PromptTokens()
		}
		out, err := json.Marshal(EmbeddingsToOpenAI(&r, st.Model, prompt))
		return out, openai.Usage{PromptTokens: prompt, TotalTokens: prompt}, true, err
	}
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, openai.Usage{}, false, fmt.Errorf("decode generateContent answer: %w", err)
	}
	c := ToOpenAI(&r, st)
	out, err := json.Marshal(c)
	return out, c.Usage.Billing(), r.UsageMetadata != nil, err
}

// ConvertError converts an error answer (see OpenAIError).
func (Adaptor) ConvertError(status int, body []byte) (int, openai.Error) {
	return OpenAIError(status, body)
}

// NewStream starts a stream conversion.
func (Adaptor) NewStream(st *adaptor.State) adaptor.Stream { return NewStream(st) }
