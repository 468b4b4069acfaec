// Package anthropic converts between OpenAI's chat completions and
// Anthropic's Messages API (https://docs.anthropic.com/en/api/messages):
// requests one way, answers, stream events and errors the other. The wire
// types are exported so that a /v1/messages endpoint (the reverse
// direction) can be built on them.
package anthropic

import "encoding/json"

// Version is the anthropic-version header sent when the client names none.
const Version = "2023-06-01"

// DefaultMaxTokens is one-api's max_tokens for a request without one
// (Anthropic requires the field).
const DefaultMaxTokens = 4096

// Request is a Messages API request body.
type Request struct {
	Model         string          `json:"model"`
	Messages      []Message       `json:"messages"`
	System        []ContentBlock  `json:"system,omitempty"`
	MaxTokens     int             `json:"max_tokens"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int            `json:"top_k,omitempty"`
	Tools         []Tool          `json:"tools,omitempty"`
	ToolChoice    *ToolChoice     `json:"tool_choice,omitempty"`
	Metadata      *Metadata       `json:"metadata,omitempty"`
	Thinking      json.RawMessage `json:"thinking,omitempty"`
}

// Metadata is the request's metadata.
type Metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// Message is one turn; role "user" or "assistant".
type Message struct {
	Role    string         `json:"role"`
	Content []ContentBlock `json:"content"`
}

// Content block types.
const (
	BlockText       = "text"
	BlockImage      = "image"
	BlockToolUse    = "tool_use"
	BlockToolResult = "tool_result"
	BlockThinking   = "thinking"
)

// ContentBlock is one block of a message, a system prompt or an answer;
// which fields are set depends on Type.
type ContentBlock struct {
	Type string `json:"type"`
	// text
	Text string `json:"text,omitempty"`
	// image
	Source *ImageSource `json:"source,omitempty"`
	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// tool_result: Content is a string or an array of blocks.
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
	// thinking
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	// CacheControl is passed through from a client that built it.
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// ImageSource is an image block's data: base64 with its media type, or a
// URL.
type ImageSource struct {
	Type      string `json:"type"` // "base64" | "url"
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// Tool is a client tool declaration.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// ToolChoice is how the model may use tools: type auto, any, tool (with
// Name) or none.
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// Response is a Messages API answer (and message_start's message).
type Response struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"` // "message"
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []ContentBlock `json:"content"`
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        Usage          `json:"usage"`
}

// Usage is Anthropic's token accounting. InputTokens excludes the tokens
// read from or written to the prompt cache.
type Usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens,omitempty"`
}

// Stop reasons.
const (
	StopEndTurn     = "end_turn"
	StopMaxTokens   = "max_tokens"
	StopSequenceHit = "stop_sequence"
	StopToolUse     = "tool_use"
	StopPauseTurn   = "pause_turn"
	StopRefusal     = "refusal"
)

// Stream event types (the SSE "event:" names, repeated in "type").
const (
	EventMessageStart      = "message_start"
	EventContentBlockStart = "content_block_start"
	EventContentBlockDelta = "content_block_delta"
	EventContentBlockStop  = "content_block_stop"
	EventMessageDelta      = "message_delta"
	EventMessageStop       = "message_stop"
	EventPing              = "ping"
	EventError             = "error"
)

// StreamEvent is the data of any stream event; which fields are set
// depends on Type.
type StreamEvent struct {
	Type         string        `json:"type"`
	Message      *Response     `json:"message,omitempty"`       // message_start
	Index        int           `json:"index"`                   // content_block_*
	ContentBlock *ContentBlock `json:"content_block,omitempty"` // content_block_start
	Delta        *StreamDelta  `json:"delta,omitempty"`         // content_block_delta, message_delta
	Usage        *Usage        `json:"usage,omitempty"`         // message_delta: cumulative
	Error        *ErrorDetail  `json:"error,omitempty"`         // error
}

// StreamDelta is a content_block_delta's or a message_delta's delta.
type StreamDelta struct {
	Type         string  `json:"type,omitempty"` // text_delta | input_json_delta | thinking_delta | signature_delta
	Text         string  `json:"text,omitempty"`
	PartialJSON  string  `json:"partial_json,omitempty"`
	Thinking     string  `json:"thinking,omitempty"`
	Signature    string  `json:"signature,omitempty"`
	StopReason   *string `json:"stop_reason,omitempty"`
	StopSequence *string `json:"stop_sequence,omitempty"`
}

// ErrorResponse is an error answer: {"type":"error","error":{…}}.
type ErrorResponse struct {
	Type  string      `json:"type"`
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error object; Type is e.g. authentication_error.
type ErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}
