// Package adaptor is the one interface between the relay and an upstream
// that does not speak OpenAI's protocol. An adaptor converts the client's
// OpenAI request into the upstream's, converts a complete answer back, and
// converts a stream event by event as the relay's single SSE reader
// (relay/sse) yields them. Adaptors are pure: bytes and structs in and
// out, no gin, no network, no clock (State carries the time and ids).
//
// OpenAI-protocol channels have no adaptor: their bodies are forwarded
// untouched, so the passthrough pays nothing for this package. The one
// reverse adaptor (anthropic.Reverse) serves Anthropic's Messages API from
// an OpenAI-protocol channel: the same interface with the two protocols'
// roles swapped; its stream emits Anthropic events, each naming itself in
// "type".
package adaptor

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"

	"one-api/relay/openai"
)

// ErrEndpoint means the adaptor cannot serve the client's endpoint (an
// Anthropic channel asked for embeddings). The relay answers 400.
var ErrEndpoint = errors.New("endpoint not supported by this channel type")

// ErrTruncated means an upstream stream ended before its end event.
var ErrTruncated = errors.New("upstream stream ended before its final event")

// Request is the client's request as an adaptor sees it.
type Request struct {
	Path   string // the client's route, "/v1/chat/completions"
	Model  string // the model name the upstream gets (after model_mapping)
	Body   []byte // the client's OpenAI JSON body
	Stream bool
}

// Upstream is the converted request.
type Upstream struct {
	// Path is appended to the channel's base URL; it includes any query.
	Path string
	Body []byte
	// Header holds the protocol's extra headers (anthropic-version), set
	// after Content-Type and the key.
	Header http.Header
}

// State is the per-request context of the response conversions.
type State struct {
	Path         string // the client's route
	Model        string // the model the client asked for, echoed back
	Created      int64  // unix seconds for "created"
	IncludeUsage bool   // the client asked for a usage chunk
	// NewID returns a fresh id (a tool call's, when upstream gives none);
	// nil = random.
	NewID func() string
	// PromptTokens is the relay's count of the prompt, for answers that
	// carry no usage (Gemini embeddings).
	PromptTokens func() int
}

// ID returns a new id from NewID or a random one.
func (s *State) ID() string {
	if s.NewID != nil {
		return s.NewID()
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Adaptor converts one protocol.
type Adaptor interface {
	// ConvertRequest turns the client's request into the upstream's, or
	// fails with ErrEndpoint or an error wrapping openai.ErrInvalidJSON.
	ConvertRequest(Request) (Upstream, error)
	// ConvertResponse turns a complete 2xx upstream body into the OpenAI
	// body the client gets, and the usage upstream reported (ok false: none,
	// the relay counts).
	ConvertResponse(st *State, body []byte) (out []byte, u openai.Usage, ok bool, err error)
	// ConvertError turns an upstream error answer into the status and the
	// OpenAI error the client gets; auth failures map to 401 so that
	// auto-disable treats them as OpenAI's.
	ConvertError(status int, body []byte) (int, openai.Error)
	// NewStream starts the conversion of one stream.
	NewStream(st *State) Stream
}

// Emit receives one converted stream payload: an OpenAI chunk's JSON or
// "[DONE]" (for Reverse, an Anthropic event's JSON, and Done once the
// stream is complete).
type Emit func(payload []byte) error

// Stream converts one upstream stream, event by event.
type Stream interface {
	// Event converts one upstream event (its name, nil if none, and data).
	// An error from emit is returned as is; an *UpstreamError means the
	// upstream reported a failure mid-stream.
	Event(name, data []byte, emit Emit) error
	// End is called when the upstream stream ended cleanly (EOF). It emits
	// what is left, [DONE] included, or returns ErrTruncated.
	End(emit Emit) error
	// Usage is the upstream's usage so far; ok false when it sent none.
	Usage() (u openai.Usage, ok bool)
}

// UpstreamError is a failure the upstream reported inside a stream.
type UpstreamError struct{ Err openai.Error }

func (e *UpstreamError) Error() string { return "upstream stream error: " + e.Err.Message }

// Done is the payload that ends an OpenAI stream.
var Done = []byte("[DONE]")

// StatusForAuth is the status an auth failure is answered with whatever
// the upstream used, so the relay's auto-disable sees OpenAI's 401.
const StatusForAuth = http.StatusUnauthorized
