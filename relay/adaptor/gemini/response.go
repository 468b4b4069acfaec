package gemini

import (
	"encoding/json"
	"net/http"
	"strings"

	"one-api/relay/adaptor"
	"one-api/relay/openai"
)

// FinishReason maps a candidate's finishReason: STOP → stop (tool_calls
// when the candidate called a function), MAX_TOKENS → length, the safety
// family → content_filter.
func FinishReason(reason string, calledTool bool) string {
	switch reason {
	case "MAX_TOKENS":
		return openai.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE":
		return openai.FinishContentFilter
	}
	if calledTool {
		return openai.FinishToolCalls
	}
	return openai.FinishStop
}

// OpenAIUsage converts usageMetadata; thinking tokens count as completion
// (Google bills them as output), cached content as cached prompt tokens.
func OpenAIUsage(u *UsageMetadata) *openai.FullUsage {
	if u == nil {
		return nil
	}
	out := &openai.FullUsage{PromptTokens: u.PromptTokenCount, CompletionTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount}
	out.TotalTokens = out.PromptTokens + out.CompletionTokens
	if u.CachedContentTokenCount > 0 {
		out.PromptTokensDetails = &openai.PromptTokensDetails{CachedTokens: u.CachedContentTokenCount}
	}
	if u.ThoughtsTokenCount > 0 {
		out.CompletionTokensDetails = &openai.CompletionTokensDetails{ReasoningTokens: u.ThoughtsTokenCount}
	}
	return out
}

// candidateMessage is the assistant message of one candidate; newID names
// function calls, which Gemini sends without an id.
func candidateMessage(c *Candidate, newID func() string) openai.AnswerMessage {
	msg := openai.AnswerMessage{Role: "assistant"}
	var text, thought strings.Builder
	for _, p := range c.Content.Parts {
		switch {
		case p.FunctionCall != nil:
			args := string(p.FunctionCall.Args)
			if args == "" {
				args = "{}"
			}
			id := p.FunctionCall.ID
			if id == "" {
				id = "call_" + newID()
			}
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: id, Type: "function",
				Function: openai.FunctionCall{Name: p.FunctionCall.Name, Arguments: args}})
		case p.Thought:
			thought.WriteString(p.Text)
		default:
			text.WriteString(p.Text)
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		s := text.String()
		msg.Content = &s
	}
	msg.ReasoningContent = thought.String()
	return msg
}

// ToOpenAI converts a generateContent answer. A prompt blocked by safety
// (no candidates, promptFeedback.blockReason) is an empty answer with
// finish_reason content_filter, as OpenAI reports filtered output.
func ToOpenAI(r *Response, st *adaptor.State) *openai.ChatCompletion {
	c := &openai.ChatCompletion{ID: "chatcmpl-" + st.ID(), Object: "chat.completion", Created: st.Created, Model: st.Model,
		Choices: []openai.ChatChoice{}, Usage: OpenAIUsage(r.UsageMetadata)}
	for i := range r.Candidates {
		cand := &r.Candidates[i]
		msg := candidateMessage(cand, st.ID)
		c.Choices = append(c.Choices, openai.ChatChoice{Index: cand.Index, Message: msg,
			FinishReason: FinishReason(cand.FinishReason, len(msg.ToolCalls) > 0), Logprobs: json.RawMessage("null")})
	}
	if len(c.Choices) == 0 {
		empty := ""
		c.Choices = append(c.Choices, openai.ChatChoice{Message: openai.AnswerMessage{Role: "assistant", Content: &empty},
			FinishReason: openai.FinishContentFilter, Logprobs: json.RawMessage("null")})
	}
	if c.Usage == nil {
		c.Usage = &openai.FullUsage{}
	}
	return c
}

// EmbeddingsToOpenAI converts a batchEmbedContents answer; it carries no
// usage, so prompt is the relay's count.
func EmbeddingsToOpenAI(r *BatchEmbedResponse, model string, prompt int) *openai.EmbeddingList {
	out := &openai.EmbeddingList{Object: "list", Model: model, Data: make([]openai.Embedding, len(r.Embeddings)),
		Usage: openai.FullUsage{PromptTokens: prompt, TotalTokens: prompt}}
	for i, e := range r.Embeddings {
		out.Data[i] = openai.Embedding{Object: "embedding", Index: i, Embedding: e.Values}
	}
	return out
}

// OpenAIError converts a Google API error. An invalid key (Google answers
// 400 API_KEY_INVALID) becomes 401 invalid_api_key, so the channel is
// auto-disabled like an OpenAI channel with a dead key; the status name
// (INVALID_ARGUMENT, RESOURCE_EXHAUSTED…) is the error type.
func OpenAIError(status int, body []byte) (int, openai.Error) {
	var e ErrorResponse
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" && e.Error.Status == "" {
		return status, openai.Error{Message: http.StatusText(status), Type: openai.TypeUpstream, Code: "bad_response_status_code"}
	}
	typ := e.Error.Status
	switch typ {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "OUT_OF_RANGE":
		typ = openai.TypeInvalidRequest // as OpenAI types a request it refuses
	}
	out := openai.Error{Message: e.Error.Message, Type: typ, Code: e.Error.Status}
	for _, d := range e.Error.Details {
		if d.Reason == "API_KEY_INVALID" {
			return http.StatusUnauthorized, openai.Error{Message: e.Error.Message, Type: openai.TypeInvalidRequest, Code: "invalid_api_key"}
		}
	}
	if status == http.StatusUnauthorized || e.Error.Status == "UNAUTHENTICATED" {
		status = http.StatusUnauthorized
	}
	return status, out
}
