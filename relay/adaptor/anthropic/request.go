package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"one-api/relay/openai"
)

// FromOpenAI converts an OpenAI chat request into a Messages API request.
// System (and developer) messages become the system prompt; consecutive
// turns of one role are merged, as Anthropic wants roles to alternate;
// tool results (role "tool") become tool_result blocks of a user turn.
func FromOpenAI(in *openai.ChatRequest) (*Request, error) {
	out := &Request{
		Model:         in.Model,
		MaxTokens:     in.OutputLimit(),
		StopSequences: in.StopSequences(),
		Stream:        in.Stream,
		Temperature:   in.Temperature,
		TopP:          in.TopP,
	}
	if out.MaxTokens <= 0 {
		out.MaxTokens = DefaultMaxTokens
	}
	if in.User != "" {
		out.Metadata = &Metadata{UserID: in.User}
	}
	for _, t := range in.Tools {
		schema := t.Function.Parameters
		if len(bytes.TrimSpace(schema)) == 0 || string(schema) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, Tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	tc, err := toolChoice(in.ToolChoice, in.ParallelToolCalls)
	if err != nil {
		return nil, err
	}
	out.ToolChoice = tc
	for i := range in.Messages {
		m := &in.Messages[i]
		switch m.Role {
		case "system", "developer":
			parts, err := m.Parts()
			if err != nil {
				return nil, fmt.Errorf("messages[%d].content: %w", i, err)
			}
			for _, p := range parts {
				if p.Type == "text" && p.Text != "" {
					out.System = append(out.System, ContentBlock{Type: BlockText, Text: p.Text})
				}
			}
		case "user", "assistant", "tool":
			blocks, err := messageBlocks(m)
			if err != nil {
				return nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			role := m.Role
			if role == "tool" {
				role = "user"
			}
			if len(blocks) == 0 {
				continue
			}
			if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
				out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
				continue
			}
			out.Messages = append(out.Messages, Message{Role: role, Content: blocks})
		default:
			return nil, fmt.Errorf("messages[%d]: unknown role %q", i, m.Role)
		}
	}
	return out, nil
}

// messageBlocks converts one user, assistant or tool message.
func messageBlocks(m *openai.ChatMessage) ([]ContentBlock, error) {
	if m.Role == "tool" {
		parts, err := m.Parts()
		if err != nil {
			return nil, err
		}
		var text strings.Builder
		for _, p := range parts {
			text.WriteString(p.Text)
		}
		content, _ := json.Marshal(text.String())
		return []ContentBlock{{Type: BlockToolResult, ToolUseID: m.ToolCallID, Content: content}}, nil
	}
	parts, err := m.Parts()
	if err != nil {
		return nil, err
	}
	blocks := make([]ContentBlock, 0, len(parts)+len(m.ToolCalls))
	for _, p := range parts {
		switch p.Type {
		case "text":
			if p.Text != "" { // Anthropic refuses empty text blocks
				blocks = append(blocks, ContentBlock{Type: BlockText, Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil {
				return nil, fmt.Errorf("image_url part without a url")
			}
			blocks = append(blocks, ContentBlock{Type: BlockImage, Source: imageSource(p.ImageURL.URL)})
		}
	}
	for _, tc := range m.ToolCalls {
		input := json.RawMessage(tc.Function.Arguments)
		if !json.Valid(input) || len(bytes.TrimSpace(input)) == 0 {
			input = json.RawMessage(`{}`)
		}
		blocks = append(blocks, ContentBlock{Type: BlockToolUse, ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks, nil
}

// imageSource reads a data: URL into base64 data, else passes the URL.
func imageSource(u string) *ImageSource {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		if meta, data, ok := strings.Cut(rest, ","); ok {
			mediaType, _, _ := strings.Cut(meta, ";")
			return &ImageSource{Type: "base64", MediaType: mediaType, Data: data}
		}
	}
	return &ImageSource{Type: "url", URL: u}
}

// toolChoice converts tool_choice: "auto" → auto, "required" → any, "none"
// → none, a named function → tool; parallel_tool_calls false disables
// parallel use.
func toolChoice(raw json.RawMessage, parallel *bool) (*ToolChoice, error) {
	raw = bytes.TrimSpace(raw)
	var tc *ToolChoice
	if len(raw) > 0 && string(raw) != "null" {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			switch s {
			case "auto":
				tc = &ToolChoice{Type: "auto"}
			case "required":
				tc = &ToolChoice{Type: "any"}
			case "none":
				tc = &ToolChoice{Type: "none"}
			default:
				return nil, fmt.Errorf("%w: tool_choice %q", openai.ErrInvalidField, s)
			}
		} else {
			var named struct {
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			}
			if err := json.Unmarshal(raw, &named); err != nil || named.Function.Name == "" {
				return nil, fmt.Errorf("%w: tool_choice", openai.ErrInvalidField)
			}
			tc = &ToolChoice{Type: "tool", Name: named.Function.Name}
		}
	}
	if parallel != nil && !*parallel {
		if tc == nil {
			tc = &ToolChoice{Type: "auto"}
		}
		if tc.Type != "none" {
			tc.DisableParallelToolUse = true
		}
	}
	return tc, nil
}
