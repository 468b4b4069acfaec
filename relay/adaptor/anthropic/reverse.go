package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"one-api/relay/adaptor"
	"one-api/relay/openai"
)

// The reverse direction: a client speaking the Messages API (POST
// /v1/messages: Claude Code, Anthropic's SDKs) in front of an upstream
// speaking OpenAI's chat completions. Reverse converts the request to a
// chat request and the answer, its stream and its errors back. What has no
// OpenAI counterpart is dropped (docs/clients.md lists it): thinking,
// redacted_thinking and server tool blocks of the assistant's history, the
// thinking option, top_k,
// cache_control, server tools (typed tools such as web_search), images
// inside tool results, is_error.

// Reverse serves the Messages API from an OpenAI-protocol upstream.
type Reverse struct {
	// MaxCompletionTokens sends max_tokens as max_completion_tokens, which
	// OpenAI's own reasoning models require (they refuse max_tokens); most
	// OpenAI-compatible vendors only know max_tokens.
	MaxCompletionTokens bool
}

var _ adaptor.Adaptor = Reverse{}

// ClientRequest is a Messages API request as clients send it: system and
// a message's content are a string or an array of blocks.
type ClientRequest struct {
	Model         string          `json:"model"`
	Messages      []ClientMessage `json:"messages"`
	System        json.RawMessage `json:"system,omitempty"`
	MaxTokens     int             `json:"max_tokens"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	Tools         []ClientTool    `json:"tools,omitempty"`
	ToolChoice    *ToolChoice     `json:"tool_choice,omitempty"`
	Metadata      *Metadata       `json:"metadata,omitempty"`
}

// ClientMessage is one turn of a client's request.
type ClientMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// ClientTool is a tool declaration: a client tool (no type, or "custom")
// or one of Anthropic's server tools (type web_search_…, bash_…), which an
// OpenAI upstream cannot run.
type ClientTool struct {
	Type string `json:"type,omitempty"`
	Tool
}

// ConvertRequest converts POST /v1/messages into POST /v1/chat/completions.
func (rv Reverse) ConvertRequest(r adaptor.Request) (adaptor.Upstream, error) {
	if r.Path != "/v1/messages" {
		return adaptor.Upstream{}, fmt.Errorf("%w: %s", adaptor.ErrEndpoint, r.Path)
	}
	var in ClientRequest
	if err := json.Unmarshal(r.Body, &in); err != nil {
		return adaptor.Upstream{}, fmt.Errorf("%w: %v", openai.ErrInvalidJSON, err)
	}
	in.Model = r.Model
	out, err := ToChat(&in, rv.MaxCompletionTokens)
	if err != nil {
		return adaptor.Upstream{}, err
	}
	body, err := json.Marshal(out)
	if err != nil {
		return adaptor.Upstream{}, fmt.Errorf("encode chat request: %w", err)
	}
	return adaptor.Upstream{Path: "/v1/chat/completions", Body: body}, nil
}

// ToChat converts a Messages API request into an OpenAI chat request. The
// system prompt becomes the first message; a user turn's tool_result
// blocks become tool messages (ahead of its other blocks, as OpenAI wants
// them right after the assistant's tool calls); an assistant turn's
// tool_use blocks become its tool_calls. A stream asks for the usage
// chunk, which billing reads.
func ToChat(in *ClientRequest, maxCompletionTokens bool) (*openai.ChatRequest, error) {
	out := &openai.ChatRequest{
		Model:       in.Model,
		Temperature: in.Temperature,
		TopP:        in.TopP,
		Stream:      in.Stream,
	}
	if maxCompletionTokens {
		out.MaxCompletionTokens = in.MaxTokens
	} else {
		out.MaxTokens = in.MaxTokens
	}
	if in.Stream {
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	if len(in.StopSequences) > 0 {
		out.Stop, _ = json.Marshal(in.StopSequences)
	}
	if in.Metadata != nil {
		out.User = in.Metadata.UserID
	}
	system, err := blocksOf(in.System)
	if err != nil {
		return nil, fmt.Errorf("%w: system: %v", openai.ErrInvalidField, err)
	}
	if text := joinText(system, "\n\n"); text != "" {
		out.Messages = append(out.Messages, openai.ChatMessage{Role: "system", Content: jsonString(text)})
	}
	for i := range in.Messages {
		m := &in.Messages[i]
		blocks, err := blocksOf(m.Content)
		if err != nil {
			return nil, fmt.Errorf("%w: messages[%d].content: %v", openai.ErrInvalidField, i, err)
		}
		var msgs []openai.ChatMessage
		switch m.Role {
		case "user":
			msgs, err = userMessages(blocks)
		case "assistant":
			msgs, err = assistantMessage(blocks)
		default:
			err = fmt.Errorf("unknown role %q", m.Role)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: messages[%d]: %v", openai.ErrInvalidField, i, err)
		}
		out.Messages = append(out.Messages, msgs...)
	}
	for _, t := range in.Tools {
		if t.Type != "" && t.Type != "custom" {
			continue // a server tool: nothing upstream could run it
		}
		params := t.InputSchema
		if len(bytes.TrimSpace(params)) == 0 || string(params) == "null" {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, openai.Tool{Type: "function",
			Function: openai.Function{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	if len(out.Tools) > 0 {
		if err := chatToolChoice(out, in.ToolChoice); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// chatToolChoice converts tool_choice: auto → "auto", any → "required",
// tool → the named function, none → "none";
// disable_parallel_tool_use → parallel_tool_calls false.
func chatToolChoice(out *openai.ChatRequest, tc *ToolChoice) error {
	if tc == nil {
		return nil
	}
	switch tc.Type {
	case "auto":
		out.ToolChoice = json.RawMessage(`"auto"`)
	case "any":
		out.ToolChoice = json.RawMessage(`"required"`)
	case "none":
		out.ToolChoice = json.RawMessage(`"none"`)
	case "tool":
		if tc.Name == "" {
			return fmt.Errorf("%w: tool_choice of type tool without a name", openai.ErrInvalidField)
		}
		out.ToolChoice, _ = json.Marshal(struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}{Type: "function", Function: struct {
			Name string `json:"name"`
		}{tc.Name}})
	default:
		return fmt.Errorf("%w: tool_choice type %q", openai.ErrInvalidField, tc.Type)
	}
	if tc.DisableParallelToolUse && tc.Type != "none" {
		no := false
		out.ParallelToolCalls = &no
	}
	return nil
}

// blocksOf reads a string or an array of blocks; a string is one text
// block.
func blocksOf(raw json.RawMessage) ([]ContentBlock, error) {
	return openai.StringOrArray(raw, func(s string) ContentBlock { return ContentBlock{Type: BlockText, Text: s} })
}

// joinText joins the text blocks' texts.
func joinText(blocks []ContentBlock, sep string) string {
	var b strings.Builder
	for _, bl := range blocks {
		if bl.Type != BlockText || bl.Text == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(bl.Text)
	}
	return b.String()
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// userMessages converts a user turn: one tool message per tool_result,
// then one user message with the text and images, if any.
func userMessages(blocks []ContentBlock) ([]openai.ChatMessage, error) {
	var out []openai.ChatMessage
	var parts []openai.ChatPart
	for _, b := range blocks {
		switch b.Type {
		case BlockText:
			if b.Text != "" {
				parts = append(parts, openai.ChatPart{Type: "text", Text: b.Text})
			}
		case BlockImage:
			u, err := imageURL(b.Source)
			if err != nil {
				return nil, err
			}
			parts = append(parts, openai.ChatPart{Type: "image_url", ImageURL: &openai.ImageURL{URL: u}})
		case BlockToolResult:
			inner, err := blocksOf(b.Content)
			if err != nil {
				return nil, fmt.Errorf("tool_result content: %w", err)
			}
			out = append(out, openai.ChatMessage{Role: "tool", ToolCallID: b.ToolUseID, Content: jsonString(joinText(inner, "\n"))})
		case BlockThinking, "redacted_thinking":
		default:
			return nil, fmt.Errorf("content block type %q is not supported on an OpenAI-protocol channel", b.Type)
		}
	}
	switch {
	case len(parts) == 1 && parts[0].Type == "text":
		out = append(out, openai.ChatMessage{Role: "user", Content: jsonString(parts[0].Text)})
	case len(parts) > 0:
		content, err := json.Marshal(parts)
		if err != nil {
			return nil, err
		}
		out = append(out, openai.ChatMessage{Role: "user", Content: content})
	}
	return out, nil
}

// assistantMessage converts an assistant turn: its text as the content,
// its tool_use blocks as tool_calls. Other blocks (thinking, and server
// tool calls and results from an earlier turn on an Anthropic channel) are
// the model's own output, dropped rather than refused.
func assistantMessage(blocks []ContentBlock) ([]openai.ChatMessage, error) {
	m := openai.ChatMessage{Role: "assistant"}
	for _, b := range blocks {
		if b.Type != BlockToolUse {
			continue
		}
		args := string(bytes.TrimSpace(b.Input))
		if args == "" || args == "null" {
			args = "{}"
		}
		m.ToolCalls = append(m.ToolCalls, openai.ToolCall{ID: b.ID, Type: "function",
			Function: openai.FunctionCall{Name: b.Name, Arguments: args}})
	}
	if text := joinText(blocks, ""); text != "" || len(m.ToolCalls) == 0 {
		m.Content = jsonString(text)
	}
	return []openai.ChatMessage{m}, nil
}

// imageURL is an image block's source as an image_url: a data: URL for
// base64 data.
func imageURL(s *ImageSource) (string, error) {
	switch {
	case s == nil:
		return "", fmt.Errorf("image block without a source")
	case s.Type == "base64":
		return "data:" + s.MediaType + ";base64," + s.Data, nil
	case s.Type == "url" && s.URL != "":
		return s.URL, nil
	}
	return "", fmt.Errorf("image source type %q is not supported on an OpenAI-protocol channel", s.Type)
}

// StopReason maps an OpenAI finish_reason to a stop reason: stop → end_turn,
// length → max_tokens, tool_calls (and the legacy function_call) →
// tool_use, content_filter → refusal.
func StopReason(finish string) string {
	switch finish {
	case openai.FinishLength:
		return StopMaxTokens
	case openai.FinishToolCalls, "function_call":
		return StopToolUse
	case openai.FinishContentFilter:
		return StopRefusal
	}
	return StopEndTurn
}

// AnthropicUsage is an OpenAI usage in Anthropic's terms: input_tokens
// excludes the prompt tokens read from the cache, which are
// cache_read_input_tokens.
func AnthropicUsage(u *openai.FullUsage) Usage {
	if u == nil {
		return Usage{}
	}
	cached := 0
	if u.PromptTokensDetails != nil {
		cached = min(u.PromptTokensDetails.CachedTokens, u.PromptTokens)
	}
	return Usage{InputTokens: u.PromptTokens - cached, OutputTokens: u.CompletionTokens, CacheReadInputTokens: cached}
}

// messageID is a message id made from an upstream id (chatcmpl-… →
// msg_…), or a fresh one.
func messageID(st *adaptor.State, upstream string) string {
	if upstream == "" {
		return "msg_" + st.ID()
	}
	return "msg_" + strings.TrimPrefix(upstream, "chatcmpl-")
}

// toolInput is a tool call's arguments as a tool_use input: an object, or
// {} when upstream sent none or something else.
func toolInput(args string) json.RawMessage {
	in := json.RawMessage(bytes.TrimSpace([]byte(args)))
	if len(in) == 0 || in[0] != '{' || !json.Valid(in) {
		return json.RawMessage(`{}`)
	}
	return in
}

// ToMessage converts a chat completion into a Messages API answer named
// after model (the client's name).
func ToMessage(st *adaptor.State, c *openai.ChatCompletion) *Response {
	r := &Response{ID: messageID(st, c.ID), Type: "message", Role: "assistant", Model: st.Model, Content: []ContentBlock{}}
	stop := StopEndTurn
	if len(c.Choices) > 0 {
		ch := &c.Choices[0]
		m := &ch.Message
		if m.Content != nil && *m.Content != "" {
			r.Content = append(r.Content, ContentBlock{Type: BlockText, Text: *m.Content})
		}
		if m.Refusal != nil && *m.Refusal != "" {
			r.Content = append(r.Content, ContentBlock{Type: BlockText, Text: *m.Refusal})
			ch.FinishReason = openai.FinishContentFilter
		}
		for _, tc := range m.ToolCalls {
			id := tc.ID
			if id == "" {
				id = "toolu_" + st.ID()
			}
			r.Content = append(r.Content, ContentBlock{Type: BlockToolUse, ID: id, Name: tc.Function.Name, Input: toolInput(tc.Function.Arguments)})
		}
		stop = StopReason(ch.FinishReason)
		if stop == StopEndTurn && len(m.ToolCalls) > 0 {
			stop = StopToolUse // some vendors answer tool calls with "stop"
		}
	}
	r.StopReason = &stop
	r.Usage = AnthropicUsage(c.Usage)
	return r
}

// ConvertResponse converts a chat completion.
func (Reverse) ConvertResponse(st *adaptor.State, body []byte) ([]byte, openai.Usage, bool, error) {
	var c openai.ChatCompletion
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, openai.Usage{}, false, fmt.Errorf("decode chat completion: %w", err)
	}
	out, err := json.Marshal(ToMessage(st, &c))
	if err != nil {
		return nil, openai.Usage{}, false, err
	}
	return out, c.Usage.Billing(), c.Usage != nil && c.Usage.TotalTokens+c.Usage.PromptTokens+c.Usage.CompletionTokens > 0, nil
}

// ConvertError passes an OpenAI error on; the relay answers it in
// Anthropic's shape. A body that is not one becomes an upstream_error.
func (Reverse) ConvertError(status int, body []byte) (int, openai.Error) {
	if e, ok := openai.ParseErrorResponse(body); ok {
		return status, e
	}
	return status, openai.Error{Message: fmt.Sprintf("upstream returned status %d", status), Type: openai.TypeUpstream, Code: "bad_response_status_code"}
}

// NewStream starts a stream conversion.
func (Reverse) NewStream(st *adaptor.State) adaptor.Stream { return NewReverseStream(st) }
