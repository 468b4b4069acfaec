package openai

import (
	"errors"
	"fmt"
)

// The Responses API (POST /v1/responses) is forwarded as is, like chat; the
// gateway reads only what routing and billing need, with the same scanner.

// ErrBackground refuses background responses: they finish after the HTTP
// exchange, so their usage never passes through the gateway to be billed.
var ErrBackground = errors.New("background responses are not supported by this gateway: their usage could not be billed; send the request without \"background\": true")

// ResponsesRequest is what the gateway reads from a Responses API request
// beyond Request's fields (model, stream, input).
type ResponsesRequest struct {
	MaxOutputTokens    int    // max_output_tokens, 0 when absent
	PreviousResponseID string // previous_response_id, "" when absent
}

// ParseResponsesRequest reads the Responses-only fields of a request body
// that ParseRequest has accepted. A request asking for background mode is
// ErrBackground.
func ParseResponsesRequest(body []byte) (ResponsesRequest, error) {
	var r ResponsesRequest
	err := topLevel(body, func(b []byte, m member) error {
		v := b[m.valStart:m.valEnd]
		switch {
		case m.keyIs("max_output_tokens"):
			n, err := countField("max_output_tokens", v)
			r.MaxOutputTokens = n
			return err
		case m.keyIs("background"):
			bg, err := boolField("background", v)
			if err == nil && bg {
				err = ErrBackground
			}
			return err
		case m.keyIs("previous_response_id"):
			if raw, esc, ok := stringValue(b, m.valStart, m.valEnd); ok {
				r.PreviousResponseID = string(appendString(nil, raw, esc))
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrInvalidField) && !errors.Is(err, ErrBackground) {
		err = fmt.Errorf("%w: %w", ErrInvalidJSON, err)
	}
	return r, err
}

// ResponsesUsage is the usage object of a Responses API response.
type ResponsesUsage struct {
	InputTokens  int // includes CachedTokens
	OutputTokens int // includes ReasoningTokens
	TotalTokens  int
	// CachedTokens is input_tokens_details.cached_tokens.
	CachedTokens int
	// ReasoningTokens is output_tokens_details.reasoning_tokens.
	ReasoningTokens int
}

// ResponseFacts reads the id and the usage of a response object: a
// non-stream answer, or the "response" member of a stream event
// (response.created, response.completed, response.incomplete,
// response.failed). hasUsage is false while usage is null or absent
// (response.created) and for malformed JSON.
func ResponseFacts(data []byte) (id string, u ResponsesUsage, hasUsage bool) {
	read := func(b []byte, m member) {
		switch {
		case m.keyIs("id"):
			if raw, esc, ok := stringValue(b, m.valStart, m.valEnd); ok {
				id = string(appendString(nil, raw, esc))
			}
		case m.keyIs("usage") && b[m.valStart] == '{':
			u, hasUsage = readResponsesUsage(b, m.valStart)
		}
	}
	err := topLevel(data, func(b []byte, m member) error {
		if m.keyIs("response") && b[m.valStart] == '{' {
			id, u, hasUsage = "", ResponsesUsage{}, false
			_, err := eachMember(b, m.valStart, 2, func(b []byte, f member) error {
				read(b, f)
				return nil
			})
			return err
		}
		read(b, m)
		return nil
	})
	if err != nil {
		return "", ResponsesUsage{}, false
	}
	return id, u, hasUsage
}

func readResponsesUsage(b []byte, start int) (u ResponsesUsage, ok bool) {
	detail := func(b []byte, f member, name string) int {
		n := 0
		if b[f.valStart] == '{' {
			eachMember(b, f.valStart, 4, func(b []byte, d member) error {
				if d.keyIs(name) {
					n = tokenCount(b[d.valStart:d.valEnd])
				}
				return nil
			})
		}
		return n
	}
	eachMember(b, start, 3, func(b []byte, f member) error {
		v := b[f.valStart:f.valEnd]
		switch {
		case f.keyIs("input_tokens"):
			u.InputTokens, ok = tokenCount(v), true
		case f.keyIs("output_tokens"):
			u.OutputTokens, ok = tokenCount(v), true
		case f.keyIs("total_tokens"):
			u.TotalTokens = tokenCount(v)
		case f.keyIs("input_tokens_details"):
			u.CachedTokens = detail(b, f, "cached_tokens")
		case f.keyIs("output_tokens_details"):
			u.ReasoningTokens = detail(b, f, "reasoning_tokens")
		}
		return nil
	})
	if ok && u.TotalTokens == 0 {
		u.TotalTokens = u.InputTokens + u.OutputTokens
	}
	return u, ok
}

// AppendResponsesText appends generated text for counting when upstream
// reports no usage: the "delta" of a stream delta event (output text,
// reasoning summary, function call arguments), or, for a whole response,
// every "text" and "arguments" string of its output items. Malformed JSON
// adds nothing.
func AppendResponsesText(dst, data []byte) []byte {
	n := len(dst)
	err := topLevel(data, func(b []byte, m member) error {
		switch {
		case m.keyIs("delta"):
			dst = appendStringValue(dst, b, m.valStart, m.valEnd)
		case m.keyIs("output") && b[m.valStart] == '[':
			dst = appendTexts(dst, b, m.valStart, 2)
		}
		return nil
	})
	if err != nil {
		return dst[:n]
	}
	return dst
}

// AppendPromptText appends the text of a request's prompt material (the
// whole request body, or the value of "input" or "messages") for counting
// when upstream reports no usage: a string as is, and in arrays and objects
// every string under a "text", "content", "arguments", "output", "input",
// "instructions" or "system" key. It is an estimate for a fallback, not a
// tokenizer-exact prompt count.
func AppendPromptText(dst, raw []byte) []byte {
	if len(raw) == 0 {
		return dst
	}
	if raw[0] == '"' {
		return appendStringValue(dst, raw, 0, len(raw))
	}
	n := len(dst)
	if _, err := skipValue(raw, 0, 1); err != nil {
		return dst[:n]
	}
	return appendTexts(dst, raw, 0, 1)
}

// appendTexts walks the value at b[i] (already validated) and appends the
// strings of the text-bearing keys at any depth.
func appendTexts(dst, b []byte, i, depth int) []byte {
	switch b[i] {
	case '[':
		eachElement(b, i, depth, func(b []byte, start, end int) error {
			if b[start] == '"' {
				dst = append(appendStringValue(dst, b, start, end), '\n')
				return nil
			}
			dst = appendTexts(dst, b, start, depth+1)
			return nil
		})
	case '{':
		eachMember(b, i, depth, func(b []byte, m member) error {
			switch {
			case m.keyIs("text"), m.keyIs("content"), m.keyIs("arguments"), m.keyIs("output"),
				m.keyIs("input"), m.keyIs("instructions"), m.keyIs("system"):
				if b[m.valStart] == '"' {
					dst = appendStringValue(dst, b, m.valStart, m.valEnd)
					dst = append(dst, '\n')
					return nil
				}
			}
			if c := b[m.valStart]; c == '[' || c == '{' {
				dst = appendTexts(dst, b, m.valStart, depth+1)
			}
			return nil
		})
	}
	return dst
}

// EventType is the "type" member of a stream event's data: the event name
// of the Responses API and of Anthropic's Messages API when an upstream
// sends data lines without their "event:" line. nil when absent.
func EventType(data []byte) []byte {
	var typ []byte
	topLevel(data, func(b []byte, m member) error {
		if m.keyIs("type") {
			if raw, esc, ok := stringValue(b, m.valStart, m.valEnd); ok && !esc {
				typ = raw
			}
		}
		return nil
	})
	return typ
}
