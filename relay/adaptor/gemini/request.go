package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"one-api/relay/openai"
)

// FromOpenAI converts an OpenAI chat request into a generateContent
// request: system and developer messages → systemInstruction, assistant →
// role "model" (tool calls as functionCall parts), tool results →
// functionResponse parts of a "user" turn named after the call they
// answer, images → inlineData (data: URLs) or fileData.
func FromOpenAI(in *openai.ChatRequest) (*Request, error) {
	out := &Request{}
	gc := GenerationConfig{
		Temperature: in.Temperature, TopP: in.TopP, MaxOutputTokens: in.OutputLimit(),
		StopSequences: in.StopSequences(),
	}
	if in.N > 1 {
		gc.CandidateCount = in.N
	}
	if rf := in.ResponseFormat; rf != nil && (rf.Type == "json_object" || rf.Type == "json_schema") {
		gc.ResponseMimeType = "application/json"
		if rf.Type == "json_schema" {
			var js struct {
				Schema json.RawMessage `json:"schema"`
			}
			if json.Unmarshal(rf.JSONSchema, &js) == nil && len(js.Schema) > 0 {
				gc.ResponseSchema = js.Schema
			}
		}
	}
	if gc.Temperature != nil || gc.TopP != nil || gc.MaxOutputTokens > 0 || len(gc.StopSequences) > 0 ||
		gc.CandidateCount > 0 || gc.ResponseMimeType != "" {
		out.GenerationConfig = &gc
	}
	if len(in.Tools) > 0 {
		decls := make([]FunctionDeclaration, 0, len(in.Tools))
		for _, t := range in.Tools {
			decls = append(decls, FunctionDeclaration{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
		}
		out.Tools = []Tool{{FunctionDeclarations: decls}}
	}
	tc, err := toolConfig(in.ToolChoice)
	if err != nil {
		return nil, err
	}
	out.ToolConfig = tc

	names := map[string]string{} // tool call id → function name
	for i := range in.Messages {
		m := &in.Messages[i]
		var role string
		var parts []Part
		switch m.Role {
		case "system", "developer":
			if out.SystemInstruction == nil {
				out.SystemInstruction = &Content{}
			}
			if t := m.Text(); t != "" {
				out.SystemInstruction.Parts = append(out.SystemInstruction.Parts, Part{Text: t})
			}
			continue
		case "user":
			role = "user"
			ps, err := contentParts(m)
			if err != nil {
				return nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			parts = ps
		case "assistant":
			role = "model"
			if t := m.Text(); t != "" {
				parts = append(parts, Part{Text: t})
			}
			for _, tc := range m.ToolCalls {
				names[tc.ID] = tc.Function.Name
				args := json.RawMessage(tc.Function.Arguments)
				if !json.Valid(args) || len(bytes.TrimSpace(args)) == 0 {
					args = json.RawMessage(`{}`)
				}
				parts = append(parts, Part{FunctionCall: &FunctionCall{Name: tc.Function.Name, Args: args}})
			}
		case "tool":
			role = "user"
			name := names[m.ToolCallID]
			if name == "" {
				name = m.Name
			}
			parts = []Part{{FunctionResponse: &FunctionResponse{Name: name, Response: toolResponse(m.Text())}}}
		default:
			return nil, fmt.Errorf("messages[%d]: unknown role %q", i, m.Role)
		}
		if len(parts) == 0 {
			continue
		}
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, parts...)
			continue
		}
		out.Contents = append(out.Contents, Content{Role: role, Parts: parts})
	}
	if out.SystemInstruction != nil && len(out.SystemInstruction.Parts) == 0 {
		out.SystemInstruction = nil
	}
	return out, nil
}

// toolResponse is a tool result as the object functionResponse wants: the
// result itself when it is a JSON object, else {"content": result}.
func toolResponse(result string) json.RawMessage {
	t := strings.TrimSpace(result)
	if strings.HasPrefix(t, "{") && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(map[string]string{"content": result})
	return b
}

func contentParts(m *openai.ChatMessage) ([]Part, error) {
	cps, err := m.Parts()
	if err != nil {
		return nil, err
	}
	parts := make([]Part, 0, len(cps))
	for _, p := range cps {
		switch p.Type {
		case "text":
			if p.Text != "" {
				parts = append(parts, Part{Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil {
				return nil, fmt.Errorf("image_url part without a url")
			}
			parts = append(parts, imagePart(p.ImageURL.URL))
		}
	}
	return parts, nil
}

// imagePart inlines a data: URL; any other URL goes as fileData.
func imagePart(u string) Part {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		if meta, data, ok := strings.Cut(rest, ","); ok {
			mime, _, _ := strings.Cut(meta, ";")
			return Part{InlineData: &Blob{MimeType: mime, Data: data}}
		}
	}
	return Part{FileData: &FileData{MimeType: guessImageMime(u), FileURI: u}}
}

func guessImageMime(u string) string {
	u = strings.ToLower(u)
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	switch {
	case strings.HasSuffix(u, ".png"):
		return "image/png"
	case strings.HasSuffix(u, ".webp"):
		return "image/webp"
	case strings.HasSuffix(u, ".gif"):
		return "image/gif"
	}
	return "image/jpeg"
}

// toolConfig converts tool_choice: auto → AUTO, required → ANY, none →
// NONE, a named function → ANY restricted to it.
func toolConfig(raw json.RawMessage) (*ToolConfig, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		mode := map[string]string{"auto": "AUTO", "required": "ANY", "none": "NONE"}[s]
		if mode == "" {
			return nil, fmt.Errorf("%w: tool_choice %q", openai.ErrInvalidField, s)
		}
		return &ToolConfig{FunctionCallingConfig: FunctionCallingConfig{Mode: mode}}, nil
	}
	var named struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &named); err != nil || named.Function.Name == "" {
		return nil, fmt.Errorf("%w: tool_choice", openai.ErrInvalidField)
	}
	return &ToolConfig{FunctionCallingConfig: FunctionCallingConfig{Mode: "ANY", AllowedFunctionNames: []string{named.Function.Name}}}, nil
}

// EmbedFromOpenAI converts an embeddings request for model.
func EmbedFromOpenAI(in *openai.EmbeddingRequest, model string) (*BatchEmbedRequest, error) {
	inputs, err := in.Inputs()
	if err != nil {
		return nil, fmt.Errorf("%w: input must be a string or an array of strings", openai.ErrInvalidField)
	}
	out := &BatchEmbedRequest{Requests: make([]EmbedRequest, len(inputs))}
	for i, s := range inputs {
		out.Requests[i] = EmbedRequest{Model: "models/" + model, Content: Content{Parts: []Part{{Text: s}}}, OutputDimensionality: in.Dimensions}
	}
	return out, nil
}
