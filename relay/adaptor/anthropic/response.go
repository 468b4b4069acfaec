package anthropic

import (
	"encoding/json"
	"net/http"
	"strings"

	"one-api/relay/openai"
)

// FinishReason maps a stop reason to OpenAI's finish_reason: end_turn,
// stop_sequence and pause_turn → stop, max_tokens → length, tool_use →
// tool_calls, refusal → content_filter.
func FinishReason(stop string) string {
	switch stop {
	case StopMaxTokens:
		return openai.FinishLength
	case StopToolUse:
		return openai.FinishToolCalls
	case StopRefusal:
		return openai.FinishContentFilter
	}
	return openai.FinishStop
}

// OpenAIUsage is u in OpenAI's shape. prompt_tokens counts every input
// token, those read from and written to the cache included (Anthropic's
// input_tokens excludes both), with the cache reads as cached_tokens.
func OpenAIUsage(u Usage) *openai.FullUsage {
	prompt := u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
	out := &openai.FullUsage{PromptTokens: prompt, CompletionTokens: u.OutputTokens, TotalTokens: prompt + u.OutputTokens}
	if u.CacheReadInputTokens > 0 || u.CacheCreationInputTokens > 0 {
		out.PromptTokensDetails = &openai.PromptTokensDetails{CachedTokens: u.CacheReadInputTokens, CacheCreationTokens: u.CacheCreationInputTokens}
	}
	return out
}

// ToOpenAI converts a Messages API answer into a chat completion named
// after model (the client's name) and created at created.
func ToOpenAI(r *Response, model string, created int64) *openai.ChatCompletion {
	msg := openai.AnswerMessage{Role: "assistant"}
	var text, thinking strings.Builder
	for _, b := range r.Content {
		switch b.Type {
		case BlockText:
			text.WriteString(b.Text)
		case BlockThinking:
			thinking.WriteString(b.Thinking)
		case BlockToolUse:
			args := string(b.Input)
			if args == "" {
				args = "{}"
			}
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: b.ID, Type: "function",
				Function: openai.FunctionCall{Name: b.Name, Arguments: args}})
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		s := text.String()
		msg.Content = &s
	}
	msg.ReasoningContent = thinking.String()
	stop := ""
	if r.StopReason != nil {
		stop = *r.StopReason
	}
	return &openai.ChatCompletion{
		ID: "chatcmpl-" + strings.TrimPrefix(r.ID, "msg_"), Object: "chat.completion", Created: created, Model: model,
		Choices: []openai.ChatChoice{{Index: 0, Message: msg, FinishReason: FinishReason(stop), Logprobs: json.RawMessage("null")}},
		Usage:   OpenAIUsage(r.Usage),
	}
}

// ParseError reads an Anthropic error body; ok is false when body is not
// one.
func ParseError(body []byte) (ErrorDetail, bool) {
	var e ErrorResponse
	if json.Unmarshal(body, &e) != nil || e.Error.Type == "" && e.Error.Message == "" {
		return ErrorDetail{}, false
	}
	return e.Error, true
}

// OpenAIError converts an Anthropic error answer with status into the
// status and OpenAI error the client gets. The error type is kept as the
// type and the code; authentication_error becomes 401 (and auto-disables
// the channel like OpenAI's invalid_api_key), Anthropic's own 529
// overloaded_error becomes 503, which every OpenAI SDK retries.
func OpenAIError(status int, body []byte) (int, openai.Error) {
	d, ok := ParseError(body)
	if !ok {
		if e, ok := openai.ParseErrorResponse(body); ok { // a proxy in front speaking OpenAI
			return status, e
		}
		return status, openai.Error{Message: http.StatusText(status), Type: openai.TypeUpstream, Code: "bad_response_status_code"}
	}
	switch d.Type {
	case "authentication_error":
		status = http.StatusUnauthorized
	case "overloaded_error":
		status = http.StatusServiceUnavailable
	}
	if status == 529 {
		status = http.StatusServiceUnavailable
	}
	return status, openai.Error{Message: d.Message, Type: d.Type, Code: d.Type}
}
