package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"

	"one-api/model"
)

// The Messages API on OpenAI-protocol channels, converted (anthropic.Reverse).

// channelGemini is one-api's Gemini channel type: it cannot serve
// /v1/messages.
const channelGemini = 24

// toolCallAnswer is a chat completion calling get_weather twice, 64 of its
// 82 prompt tokens read from OpenAI's cache.
const toolCallAnswer = `{"id":"chatcmpl-t1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Checking both.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99,"prompt_tokens_details":{"cached_tokens":64}}}`

// finalAnswer answers once the tool results are in.
const finalAnswer = `{"id":"chatcmpl-t2","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Paris 18°C, Rome 22°C."},"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":9,"total_tokens":129}}`

// openaiForMessages is an OpenAI upstream for converted Messages requests:
// it calls the tool until the tool results come back, then answers; a
// stream is the adaptor's stream_tools fixture (text, two tool calls, usage
// 82 + 17). It fails the test when a stream does not ask for usage.
func openaiForMessages(t *testing.T) *fake {
	streamTools, err := os.ReadFile("adaptor/anthropic/testdata/stream_tools.openai.sse")
	if err != nil {
		t.Fatal(err)
	}
	return newFake(t, func(w http.ResponseWriter, _ *http.Request, body []byte) {
		var req struct {
			Stream        bool `json:"stream"`
			StreamOptions *struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
			Messages []struct {
				Role string `json:"role"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("upstream got %s: %v", body, err)
		}
		if req.Stream {
			if req.StreamOptions == nil || !req.StreamOptions.IncludeUsage {
				t.Errorf("a converted stream did not ask for usage: %s", body)
			}
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(streamTools)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if req.Messages[len(req.Messages)-1].Role == "tool" {
			io.WriteString(w, finalAnswer)
			return
		}
		io.WriteString(w, toolCallAnswer)
	})
}

var weatherParams = anthropic.MessageNewParams{
	Model:     "gpt-4o",
	MaxTokens: 256,
	System:    []anthropic.TextBlockParam{{Text: "You are a weather bot."}},
	Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Weather in Paris and Rome?"))},
	Tools: []anthropic.ToolUnionParam{anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}, "get_weather")},
}

// toolUses lists a message's tool_use blocks as id:name:input.
func toolUses(m *anthropic.Message) string {
	var s []string
	for _, b := range m.Content {
		if b.Type == "tool_use" {
			s = append(s, fmt.Sprintf("%s:%s:%s", b.ID, b.Name, b.Input))
		}
	}
	return strings.Join(s, " ")
}

// TestMessagesOpenAIChannel drives /v1/messages on an OpenAI channel with
// Anthropic's SDK: a tool call round trip (tool_use out, tool_result
// back) and a stream the SDK's accumulator rebuilds, each billed exactly
// from the upstream's usage and logged once with the route.
func TestMessagesOpenAIChannel(t *testing.T) {
	up := openaiForMessages(t)
	e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelOpenAI, "o", up.URL, "gpt-4o")}})
	srv := newServer(t, e)
	client := anthropicClient(srv.URL, e.key)
	ctx := t.Context()
	const wantCalls = `call_1:get_weather:{"city":"Paris"} call_2:get_weather:{"city":"Rome"}`

	first, err := client.Messages.New(ctx, weatherParams)
	if err != nil {
		t.Fatal(err)
	}
	if first.StopReason != anthropic.StopReasonToolUse || toolUses(first) != wantCalls || first.Content[0].Text != "Checking both." ||
		first.Usage.InputTokens != 18 || first.Usage.CacheReadInputTokens != 64 || first.Usage.OutputTokens != 17 || first.Model != "gpt-4o" {
		t.Fatalf("first answer = %+v", first)
	}
	got := up.last(t)
	var sent struct {
		Model               string `json:"model"`
		MaxCompletionTokens int    `json:"max_completion_tokens"`
		Messages            []struct {
			Role string `json:"role"`
		} `json:"messages"`
		Tools []struct {
			Function struct {
				Name       string          `json:"name"`
				Parameters json.RawMessage `json:"parameters"`
			} `json:"function"`
		} `json:"tools"`
	}
	if err := json.Unmarshal([]byte(got.Body), &sent); err != nil {
		t.Fatal(err)
	}
	if got.Path != "/v1/chat/completions" || got.Header.Get("Authorization") != "Bearer ck-o" || got.Header.Get("X-Api-Key") != "" ||
		sent.Model != "gpt-4o" || sent.MaxCompletionTokens != 256 || len(sent.Messages) != 2 || sent.Messages[0].Role != "system" ||
		len(sent.Tools) != 1 || sent.Tools[0].Function.Name != "get_weather" || !strings.Contains(string(sent.Tools[0].Function.Parameters), `"city"`) {
		t.Errorf("upstream got %s %s (Authorization %q)", got.Path, got.Body, got.Header.Get("Authorization"))
	}

	// The tool results go back as the SDK builds them.
	next := weatherParams
	next.Messages = append(append([]anthropic.MessageParam{}, weatherParams.Messages...), first.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock("call_1", "18°C", false), anthropic.NewToolResultBlock("call_2", "22°C", false)))
	final, err := client.Messages.New(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if final.StopReason != anthropic.StopReasonEndTurn || len(final.Content) != 1 || final.Content[0].Text != "Paris 18°C, Rome 22°C." {
		t.Errorf("final answer = %+v", final)
	}
	var sent2 struct {
		Messages []struct {
			Role       string `json:"role"`
			Content    any    `json:"content"`
			ToolCallID string `json:"tool_call_id"`
			ToolCalls  []struct {
				ID string `json:"id"`
			} `json:"tool_calls"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(up.last(t).Body), &sent2); err != nil {
		t.Fatal(err)
	}
	if m := sent2.Messages; len(m) != 5 || m[2].Role != "assistant" || len(m[2].ToolCalls) != 2 || m[2].ToolCalls[1].ID != "call_2" ||
		m[3].Role != "tool" || m[3].ToolCallID != "call_1" || m[3].Content != "18°C" || m[4].ToolCallID != "call_2" {
		t.Errorf("round trip sent %s", up.last(t).Body)
	}

	stream := client.Messages.NewStreaming(ctx, weatherParams)
	var streamed anthropic.Message
	for stream.Next() {
		if err := streamed.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if streamed.StopReason != anthropic.StopReasonToolUse || toolUses(&streamed) != wantCalls || streamed.Content[0].Text != "Checking both." ||
		streamed.Usage.OutputTokens != 17 || streamed.Usage.InputTokens+streamed.Usage.CacheReadInputTokens != 82 {
		t.Errorf("accumulated stream = %+v", streamed)
	}

	srv.Close()
	// gpt-4o: ratio 2.5, completion ratio 4.
	logs := e.logs()
	if len(logs) != 3 {
		t.Fatalf("%d consume logs, want 3", len(logs))
	}
	var total int64
	for i, want := range []struct {
		prompt, completion int
		stream             bool
	}{{82, 17, false}, {120, 9, false}, {82, 17, true}} {
		l := logs[i]
		quota := ceilQuota(want.prompt, want.completion, 2.5, 4)
		total += quota
		if l.Quota != int(quota) || l.PromptTokens != want.prompt || l.CompletionTokens != want.completion || l.IsStream != want.stream ||
			l.ModelName != "gpt-4o" || l.ChannelID != 1 || !strings.HasSuffix(l.Content, ", route /v1/messages, converted to chat completions") {
			t.Errorf("log %d = %+v, want quota %d for %d + %d tokens", i, l, quota, want.prompt, want.completion)
		}
	}
	if b := e.balances(1); b.UserUsed != total || b.TokenUsed != total || b.ChannelUsed != total || b.Requests != 3 || b.UserQuota != 1e9-total {
		t.Errorf("balances = %+v, want %d used over 3 requests", b, total)
	}
}

// TestMessagesOpenAIErrors: an OpenAI upstream's refusal, and a model whose
// channels cannot serve the route, reach the SDK in Anthropic's shape with
// the status kept; nothing is billed.
func TestMessagesOpenAIErrors(t *testing.T) {
	gemini := newFake(t, answerJSON(1, 1))
	for _, tc := range []struct {
		name    string
		typ     int
		answer  func(http.ResponseWriter, *http.Request, []byte)
		status  int
		errType string
		message string
	}{
		{"400", model.ChannelOpenAI, answerStatus(400, "context_length_exceeded"), 400, "invalid_request_error", "upstream says 400"},
		{"401", model.ChannelAzure, answerStatus(401, "invalid_api_key"), 401, "authentication_error", "upstream says 401"},
		{"429", model.ChannelOpenAICompatible, answerStatus(429, "rate_limit_exceeded"), 429, "rate_limit_error", "upstream says 429"},
		{"500", model.ChannelOpenAI, answerStatus(500, "server_error"), 500, "api_error", "upstream says 500"},
		{"html 502", model.ChannelCustom, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			w.WriteHeader(502)
			io.WriteString(w, "<html>bad gateway</html>")
		}, 502, "api_error", "upstream returned status 502"},
		{"only gemini", channelGemini, nil, 503, "api_error", "needs an Anthropic or OpenAI-protocol channel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := gemini.URL
			if tc.answer != nil {
				url = newFake(t, tc.answer).URL
			}
			e := newEnv(t, envConfig{channels: []*model.Channel{channel(tc.typ, "c", url, "gpt-4o")}})
			srv := newServer(t, e)
			client := anthropicClient(srv.URL, e.key)
			for _, stream := range []bool{false, true} {
				var err error
				if stream {
					s := client.Messages.NewStreaming(t.Context(), weatherParams)
					for s.Next() {
					}
					err = s.Err()
				} else {
					_, err = client.Messages.New(t.Context(), weatherParams)
				}
				var apiErr *anthropic.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("stream %v: err = %v (%T), want *anthropic.Error", stream, err, err)
				}
				var raw struct {
					Type  string `json:"type"`
					Error struct {
						Type    string `json:"type"`
						Message string `json:"message"`
					} `json:"error"`
				}
				if json.Unmarshal([]byte(apiErr.RawJSON()), &raw) != nil || raw.Type != "error" || raw.Error.Type != tc.errType ||
					apiErr.StatusCode != tc.status || !strings.Contains(raw.Error.Message, tc.message) || !strings.Contains(raw.Error.Message, "request id") {
					t.Errorf("stream %v: %d %s, want %d %s %q", stream, apiErr.StatusCode, apiErr.RawJSON(), tc.status, tc.errType, tc.message)
				}
			}
			srv.Close()
			if len(e.logs()) != 0 || e.balances(0).UserUsed != 0 {
				t.Error("a failed request was billed")
			}
		})
	}
	if gemini.hits.Load() != 0 {
		t.Error("a Gemini channel was sent a Messages request")
	}
}

// TestMessagesOpenAIRetry: the first OpenAI channel fails before its first
// byte (a 500, or a stream that ends before its first event), the second
// serves; billed once, to the second.
func TestMessagesOpenAIRetry(t *testing.T) {
	emptyStream := func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
	}
	for _, tc := range []struct {
		name   string
		first  func(http.ResponseWriter, *http.Request, []byte)
		stream bool
	}{
		{"500", answerStatus(500, "server_error"), false},
		{"500 stream", answerStatus(500, "server_error"), true},
		{"empty stream", emptyStream, true},
	} {
		stream := tc.stream
		t.Run(tc.name, func(t *testing.T) {
			first := newFake(t, tc.first)
			second := openaiForMessages(t)
			e := newEnv(t, envConfig{
				channels: []*model.Channel{
					prio(channel(model.ChannelOpenAI, "first", first.URL, "gpt-4o"), 10, 0),
					prio(channel(model.ChannelOpenAICompatible, "second", second.URL, "gpt-4o"), 0, 0),
				},
				options: map[string]string{"RetryTimes": "1"},
			})
			srv := newServer(t, e)
			client := anthropicClient(srv.URL, e.key)
			var msg anthropic.Message
			if stream {
				s := client.Messages.NewStreaming(t.Context(), weatherParams)
				for s.Next() {
					if err := msg.Accumulate(s.Current()); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
			} else {
				m, err := client.Messages.New(t.Context(), weatherParams)
				if err != nil {
					t.Fatal(err)
				}
				msg = *m
			}
			if toolUses(&msg) == "" || first.hits.Load() != 1 || second.hits.Load() != 1 {
				t.Errorf("message %+v; hits %d, %d", msg, first.hits.Load(), second.hits.Load())
			}
			// An OpenAI-compatible channel is sent max_tokens.
			if !strings.Contains(second.last(t).Body, `"max_tokens":256`) {
				t.Errorf("second channel got %s", second.last(t).Body)
			}
			srv.Close()
			want := ceilQuota(82, 17, 2.5, 4)
			if logs := e.logs(); len(logs) != 1 || logs[0].ChannelID != 2 || logs[0].Quota != int(want) {
				t.Errorf("logs = %+v, want one of %d units on channel 2", logs, want)
			}
			if b := e.balances(2); b.UserUsed != want || b.ChannelUsed != want {
				t.Errorf("balances = %+v, want %d", b, want)
			}
		})
	}
}

// TestMessagesOpenAIStreamCut: an OpenAI stream cut before its
// finish_reason ends the client's stream with Anthropic's error event,
// and what was delivered is billed by the tokenizer's count.
func TestMessagesOpenAIStreamCut(t *testing.T) {
	up := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range streamChunks {
			fmt.Fprintf(w, "data: %s\n\n", chunk(c))
		}
	})
	e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelOpenAI, "o", up.URL, "gpt-4o")}})
	w := e.do("POST", "/v1/messages", `{"model":"gpt-4o","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		"Authorization", "", "x-api-key", e.key)
	body := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(body, "event: message_start\n") || strings.Contains(body, "message_stop") ||
		!strings.Contains(body, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"upstream stream was interrupted") {
		t.Errorf("%d %s", w.Code, body)
	}
	logs := e.logs()
	prompt := countPrompt(&parsed{mode: modeMessages, body: []byte(`{"messages":[{"role":"user","content":"hi"}]}`)}, "gpt-4o")
	completion := countText("gpt-4o", []byte(strings.Join(streamChunks, "")))
	if len(logs) != 1 || logs[0].PromptTokens != prompt || logs[0].CompletionTokens != completion || completion == 0 {
		t.Errorf("logs = %+v, want %d + %d counted tokens", logs, prompt, completion)
	}
}
