// Package openai is the OpenAI wire format as the gateway needs it: the few
// request fields that drive routing and billing, a minimal body rewrite, the
// usage and text of responses and stream chunks, and the error shape. It
// never decodes a whole request: bodies are forwarded untouched whenever
// possible, so everything here works on the raw bytes.
package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Every error ParseRequest returns wraps one of these; all are the client's
// fault (HTTP 400, type invalid_request_error).
var (
	ErrInvalidJSON  = errors.New("request body is not a valid JSON object")
	ErrMissingModel = errors.New("model is required")
	ErrInvalidField = errors.New("invalid field")
)

// Request is what the gateway reads from a JSON request body. The raw
// fields are sub-slices of Body, not copies.
type Request struct {
	Body []byte // the body as received

	Model               string
	Stream              bool
	MaxTokens           int  // max_tokens, 0 when absent
	MaxCompletionTokens int  // max_completion_tokens, 0 when absent
	IncludeUsage        bool // stream_options.include_usage

	Messages json.RawMessage // chat "messages", nil when absent
	Prompt   json.RawMessage // completions "prompt", nil when absent
	Input    json.RawMessage // embeddings / moderations "input", nil when absent
}

// OutputLimit is the most tokens the client allows the answer to have:
// max_tokens, or else max_completion_tokens (the newer name), or 0.
func (r *Request) OutputLimit() int {
	if r.MaxTokens > 0 {
		return r.MaxTokens
	}
	return r.MaxCompletionTokens
}

// ParseRequest reads the gateway's fields from a JSON request body. Like
// encoding/json (and the Python parsers upstream), the last of duplicate keys
// wins; unlike encoding/json, keys match case-sensitively, as they do
// upstream. A missing or empty model is ErrMissingModel so callers with a
// default (image generation) can apply it.
func ParseRequest(body []byte) (Request, error) {
	req := Request{Body: body}
	var modelRaw []byte
	var modelEscaped, haveModel bool
	err := topLevel(body, func(b []byte, m member) error {
		// Capped, so appending to a raw field cannot overwrite the body.
		v := b[m.valStart:m.valEnd:m.valEnd]
		switch {
		case m.keyIs("model"):
			raw, esc, ok := stringValue(b, m.valStart, m.valEnd)
			if !ok && string(v) != "null" {
				return fmt.Errorf("%w: model must be a string", ErrInvalidField)
			}
			modelRaw, modelEscaped, haveModel = raw, esc, ok
		case m.keyIs("stream"):
			s, err := boolField("stream", v)
			if err != nil {
				return err
			}
			req.Stream = s
		case m.keyIs("max_tokens"):
			n, err := countField("max_tokens", v)
			if err != nil {
				return err
			}
			req.MaxTokens = n
		case m.keyIs("max_completion_tokens"):
			n, err := countField("max_completion_tokens", v)
			if err != nil {
				return err
			}
			req.MaxCompletionTokens = n
		case m.keyIs("stream_options"):
			u, err := includeUsage(b, m.valStart, m.valEnd)
			if err != nil {
				return err
			}
			req.IncludeUsage = u
		case m.keyIs("messages"):
			req.Messages = v
		case m.keyIs("prompt"):
			req.Prompt = v
		case m.keyIs("input"):
			req.Input = v
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrInvalidField) {
			return req, err
		}
		return req, fmt.Errorf("%w: %w", ErrInvalidJSON, err)
	}
	if !haveModel || len(modelRaw) == 0 {
		return req, ErrMissingModel
	}
	if modelEscaped {
		req.Model = string(appendUnescaped(nil, modelRaw))
	} else {
		req.Model = string(modelRaw)
	}
	if !utf8.ValidString(req.Model) {
		// encoding/json would route this as U+FFFD and upstream would
		// reject the body, so refuse it here.
		return req, fmt.Errorf("%w: model is not valid UTF-8", ErrInvalidField)
	}
	return req, nil
}

func boolField(name string, v []byte) (bool, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, fmt.Errorf("%w: %s must be a boolean", ErrInvalidField, name)
}

// countField parses a non-negative integer field; null counts as absent.
func countField(name string, v []byte) (int, error) {
	if string(v) == "null" {
		return 0, nil
	}
	n, ok := parseCount(v)
	if !ok {
		return 0, fmt.Errorf("%w: %s must be a non-negative integer", ErrInvalidField, name)
	}
	return n, nil
}

// parseCount parses a JSON number that is a non-negative integer small
// enough for an int32, without allocating (strconv.Atoi's error keeps the
// string, so converting to it escapes).
func parseCount(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= math.MaxInt32
}

// includeUsage reads stream_options.include_usage from the stream_options
// value at b[start:end].
func includeUsage(b []byte, start, end int) (bool, error) {
	if string(b[start:end]) == "null" {
		return false, nil
	}
	if b[start] != '{' {
		return false, fmt.Errorf("%w: stream_options must be an object", ErrInvalidField)
	}
	var usage bool
	_, err := eachMember(b, start, 2, func(b []byte, m member) error {
		if !m.keyIs("include_usage") {
			return nil
		}
		u, err := boolField("stream_options.include_usage", b[m.valStart:m.valEnd])
		usage = u
		return err
	})
	return usage, err
}
