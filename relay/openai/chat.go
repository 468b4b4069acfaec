package openai

import (
	"bytes"
	"encoding/json"
)

// The typed chat completion shapes below are for the adaptors of other
// protocols (relay/adaptor/...), which must decode a request and build an
// answer. The OpenAI passthrough never uses them.

// ChatRequest is an OpenAI chat completion request, as far as a protocol
// conversion can carry it over.
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []ChatMessage   `json:"messages"`
	MaxTokens           int             `json:"max_tokens,omitempty"`
	MaxCompletionTokens int             `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	N                   int             `json:"n,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`
	Stop                json.RawMessage `json:"stop,omitempty"` // a string or an array of strings
	Tools               []Tool          `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"` // "auto" | "none" | "required" | {"type":"function","function":{"name":…}}
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *ResponseFormat `json:"response_format,omitempty"`
	User                string          `json:"user,omitempty"`
}

// StreamOptions is the request's stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ResponseFormat is the request's response_format.
type ResponseFormat struct {
	Type       string          `json:"type"`
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
}

// StopSequences reads stop: a string, an array of strings, or nothing.
func (r *ChatRequest) StopSequences() []string {
	s := bytes.TrimSpace(r.Stop)
	if len(s) == 0 || string(s) == "null" {
		return nil
	}
	var one string
	if json.Unmarshal(s, &one) == nil {
		if one == "" {
			return nil
		}
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(s, &many)
	return many
}

// OutputLimit is max_tokens, else max_completion_tokens, else 0.
func (r *ChatRequest) OutputLimit() int {
	if r.MaxTokens > 0 {
		return r.MaxTokens
	}
	return r.MaxCompletionTokens
}

// ChatMessage is one message of a request or an answer. Content is a
// string or an array of parts in a request (see Parts).
type ChatMessage struct {
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content,omitempty"`
	Name             string          `json:"name,omitempty"`
	ToolCalls        []ToolCall      `json:"tool_calls,omitempty"`
	ToolCallID       string          `json:"tool_call_id,omitempty"`
	ReasoningContent string          `json:"reasoning_content,omitempty"`
}

// ChatPart is one element of an array content.
type ChatPart struct {
	Type     string    `json:"type"` // "text" | "image_url"
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// ImageURL is an image part's URL: https or a data: URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// Parts returns the message's content as parts: a string is one text part,
// null or absent none.
func (m *ChatMessage) Parts() ([]ChatPart, error) {
	return StringOrArray(m.Content, func(s string) ChatPart { return ChatPart{Type: "text", Text: s} })
}

// StringOrArray decodes a content field that is either a string (one
// element, made by fromString) or an array of T, as both OpenAI's and
// Anthropic's message content are; absent or null is none.
func StringOrArray[T any](raw json.RawMessage, fromString func(string) T) ([]T, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []T{fromString(s)}, nil
	}
	var out []T
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Text returns the text of the message's content, parts joined.
func (m *ChatMessage) Text() string {
	parts, _ := m.Parts()
	if len(parts) == 1 {
		return parts[0].Text
	}
	var b []byte
	for _, p := range parts {
		if p.Type == "text" {
			b = append(b, p.Text...)
		}
	}
	return string(b)
}

// Tool is a request's tool; only functions exist.
type Tool struct {
	Type     string   `json:"type"`
	Function Function `json:"function"`
}

// Function is a tool's declaration.
type Function struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolCall is a call in an assistant message or a stream delta (where
// Index says which call a fragment continues).
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall is the function a tool call names and its JSON arguments.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Finish reasons of a choice.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
)

// ChatCompletion is a non-stream answer.
type ChatCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"` // "chat.completion"
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []ChatChoice `json:"choices"`
	Usage   *FullUsage   `json:"usage,omitempty"`
}

// ChatChoice is a choice of a non-stream answer.
type ChatChoice struct {
	Index        int             `json:"index"`
	Message      AnswerMessage   `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"` // always null
}

// AnswerMessage is the assistant message of an answer. Content is null
// (nil) when the answer is only tool calls, as OpenAI sends it.
type AnswerMessage struct {
	Role             string     `json:"role"`
	Content          *string    `json:"content"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
	Refusal          *string    `json:"refusal"`
}

// ChatChunk is one stream event's data.
type ChatChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"` // "chat.completion.chunk"
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []ChunkChoice `json:"choices"`
	Usage   *FullUsage    `json:"usage,omitempty"`
}

// ChunkChoice is a choice of a chunk. FinishReason is null until the last.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// Delta is a chunk's increment of the assistant message.
type Delta struct {
	Role             string     `json:"role,omitempty"`
	Content          *string    `json:"content,omitempty"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
}

// FullUsage is usage as an answer carries it, with the detail objects the
// SDKs read (cached prompt tokens, reasoning tokens).
type FullUsage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// PromptTokensDetails says how many prompt tokens came from a cache.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
	// CacheCreationTokens is Anthropic's cache_creation_input_tokens (not
	// an OpenAI field; SDKs ignore it).
	CacheCreationTokens int `json:"cache_creation_tokens,omitempty"`
}

// CompletionTokensDetails says how many completion tokens were reasoning.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// Billing is the three counts the ledger bills.
func (u *FullUsage) Billing() Usage {
	if u == nil {
		return Usage{}
	}
	return Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
}

// EmbeddingRequest is an OpenAI embeddings request; Input is a string or
// an array of strings (token arrays are not carried over).
type EmbeddingRequest struct {
	Model      string          `json:"model"`
	Input      json.RawMessage `json:"input"`
	Dimensions int             `json:"dimensions,omitempty"`
}

// Inputs reads input as strings.
func (r *EmbeddingRequest) Inputs() ([]string, error) {
	var one string
	if err := json.Unmarshal(r.Input, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(r.Input, &many); err != nil {
		return nil, err
	}
	return many, nil
}

// EmbeddingList is an embeddings answer.
type EmbeddingList struct {
	Object string      `json:"object"` // "list"
	Data   []Embedding `json:"data"`
	Model  string      `json:"model"`
	Usage  FullUsage   `json:"usage"`
}

// Embedding is one vector of an answer.
type Embedding struct {
	Object    string    `json:"object"` // "embedding"
	Index     int       `json:"index"`
	Embedding []float64 `json:"embedding"`
}
