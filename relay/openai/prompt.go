package openai

import (
	"encoding/json"
	"fmt"
)

// Message is what token counting needs from one chat message.
type Message struct {
	Role string
	// Name is the optional participant name; OpenAI rejects an empty one, so
	// "" means absent.
	Name    string
	Content []ContentPart
}

// ContentPart is one part of a message's content. A plain string content is
// one "text" part.
type ContentPart struct {
	Type        string // "text", "image_url", or another part type
	Text        string // for "text"
	ImageDetail string // for "image_url": "low", "high", "auto" or ""
}

type wireMessage struct {
	Role    string          `json:"role"`
	Name    string          `json:"name"`
	Content json.RawMessage `json:"content"`
}

type wirePart struct {
	Type string `json:"type"`
	Text string `json:"text"`
	// The image URL may be a large data: URL; only detail matters, so the
	// decoder skips the rest.
	ImageURL json.RawMessage `json:"image_url"`
}

// ParseMessages decodes a chat "messages" array for token counting. Content
// may be a string, an array of parts, or null (an assistant tool call).
func ParseMessages(raw json.RawMessage) ([]Message, error) {
	var wire []wireMessage
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fmt.Errorf("%w: messages: %w", ErrInvalidField, err)
	}
	msgs := make([]Message, len(wire))
	for i, w := range wire {
		msgs[i] = Message{Role: w.Role, Name: w.Name}
		parts, err := parseContent(w.Content)
		if err != nil {
			return nil, fmt.Errorf("%w: messages[%d].content: %w", ErrInvalidField, i, err)
		}
		msgs[i].Content = parts
	}
	return msgs, nil
}

func parseContent(raw json.RawMessage) ([]ContentPart, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []ContentPart{{Type: "text", Text: s}}, nil
	}
	var wire []wirePart
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, err
	}
	parts := make([]ContentPart, len(wire))
	for i, w := range wire {
		parts[i] = ContentPart{Type: w.Type, Text: w.Text}
		if w.Type == "image_url" && len(w.ImageURL) > 0 && w.ImageURL[0] == '{' {
			var img struct {
				Detail string `json:"detail"`
			}
			// A detail that is not a string just means the default.
			_ = json.Unmarshal(w.ImageURL, &img)
			parts[i].ImageDetail = img.Detail
		}
	}
	return parts, nil
}

// Input is the prompt material of a completions "prompt" or an embeddings
// "input": text, and token ids when the client sent pre-tokenized input.
type Input struct {
	Texts  []string
	Tokens int // number of token ids given directly
}

// ParseInput decodes a "prompt" or "input" value: a string, an array of
// strings, an array of token ids, or an array of token-id arrays. Absent
// (nil) or null is an empty Input.
func ParseInput(raw json.RawMessage) (Input, error) {
	var in Input
	if len(raw) == 0 || string(raw) == "null" {
		return in, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return in, fmt.Errorf("%w: input: %w", ErrInvalidField, err)
		}
		in.Texts = []string{s}
		return in, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return in, fmt.Errorf("%w: input must be a string or an array: %w", ErrInvalidField, err)
	}
	for i, it := range items {
		switch {
		case len(it) > 0 && it[0] == '"':
			var s string
			if err := json.Unmarshal(it, &s); err != nil {
				return in, fmt.Errorf("%w: input[%d]: %w", ErrInvalidField, i, err)
			}
			in.Texts = append(in.Texts, s)
		case len(it) > 0 && it[0] == '[':
			var ids []json.RawMessage
			if err := json.Unmarshal(it, &ids); err != nil {
				return in, fmt.Errorf("%w: input[%d]: %w", ErrInvalidField, i, err)
			}
			in.Tokens += len(ids)
		default: // a token id
			in.Tokens++
		}
	}
	return in, nil
}
