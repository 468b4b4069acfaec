package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"one-api/model"
	"one-api/relay/openai"
	"one-api/relay/tokenizer"
)

// The three fakes below answer the same conversation, each in its own
// protocol: "Hello there" (1000 prompt + 200 completion tokens), a
// get_weather tool call when the request has tools, the stream
// "Hel" "lo" " world" with the same usage, and a 400 when max_tokens is
// 999999.

func wantsStream(body []byte) bool { return bytes.Contains(body, []byte(`"stream":true`)) }

func badRequest(body []byte) bool { return bytes.Contains(body, []byte(`999999`)) }

func hasTools(body []byte) bool {
	return bytes.Contains(body, []byte(`"tools"`))
}

func openaiFake(w http.ResponseWriter, r *http.Request, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case badRequest(body):
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"message":"max_tokens is too large","type":"invalid_request_error","param":"max_tokens","code":null}}`)
	case wantsStream(body):
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range streamChunks {
			fmt.Fprintf(w, "data: %s\n\n", chunk(c))
		}
		io.WriteString(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n")
		fmt.Fprintf(w, "data: %s\n\n", usageChunk(1000, 200))
		io.WriteString(w, "data: [DONE]\n\n")
	case hasTools(body):
		io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}],"refusal":null},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1000,"completion_tokens":200,"total_tokens":1200}}`)
	default:
		io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":200,"total_tokens":1200}}`)
	}
}

func anthropicFake(w http.ResponseWriter, r *http.Request, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Header.Get("x-api-key") == "ck-dead":
		w.WriteHeader(401)
		io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
	case badRequest(body):
		w.WriteHeader(400)
		io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens is too large"}}`)
	case wantsStream(body):
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-3-haiku-20240307\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1000,\"output_tokens\":1}}}\n\n")
		io.WriteString(w, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n")
		for _, c := range streamChunks {
			fmt.Fprintf(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":%q}}\n\n", c)
		}
		io.WriteString(w, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
		io.WriteString(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":200}}\n\n")
		io.WriteString(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	case hasTools(body):
		io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-haiku-20240307","content":[{"type":"tool_use","id":"call_1","name":"get_weather","input":{"location":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":1000,"output_tokens":200}}`)
	default:
		io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-haiku-20240307","content":[{"type":"text","text":"Hello there"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1000,"output_tokens":200}}`)
	}
}

func geminiFake(w http.ResponseWriter, r *http.Request, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Header.Get("x-goog-api-key") == "ck-dead":
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`)
	case badRequest(body):
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"code":400,"message":"max_tokens is too large","status":"INVALID_ARGUMENT"}}`)
	case strings.HasSuffix(r.URL.Path, ":streamGenerateContent"):
		w.Header().Set("Content-Type", "text/event-stream")
		for i, c := range streamChunks {
			fin := ""
			usage := `{"promptTokenCount":1000,"totalTokenCount":1000}`
			if i == len(streamChunks)-1 {
				fin, usage = `,"finishReason":"STOP"`, `{"promptTokenCount":1000,"candidatesTokenCount":200,"totalTokenCount":1200}`
			}
			fmt.Fprintf(w, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":%q}],\"role\":\"model\"}%s,\"index\":0}],\"usageMetadata\":%s}\r\n\r\n", c, fin, usage)
		}
	case hasTools(body):
		io.WriteString(w, `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"location":"Paris"}}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":200,"totalTokenCount":1200}}`)
	default:
		io.WriteString(w, `{"candidates":[{"content":{"parts":[{"text":"Hello there"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":200,"totalTokenCount":1200}}`)
	}
}

// protocolCase is one channel type with its fake and its price for 1000 +
// 200 tokens at one-api's default ratios.
type protocolCase struct {
	name  string
	typ   int
	model string
	fake  func(http.ResponseWriter, *http.Request, []byte)
	quota int64
}

var protocolCases = []protocolCase{
	// gpt-4o-mini: 0.075, completion 4: (1000 + 200×4) × 0.075 = 135.
	{"openai", model.ChannelOpenAI, "gpt-4o-mini", openaiFake, 135},
	// claude-3-haiku-20240307: 0.125, completion 5: (1000 + 200×5) × 0.125 = 250.
	{"anthropic", 14, "claude-3-haiku-20240307", anthropicFake, 250},
	// gemini-1.5-flash: 0.0375, completion 3: (1000 + 200×3) × 0.0375 = 60.
	{"gemini", 24, "gemini-1.5-flash", geminiFake, 60},
}

// TestAdaptorShapes is the done-when check: the official SDK gets
// the same answers from an OpenAI, an Anthropic and a Gemini channel for
// chat, a stream with usage, tool calls and errors, and each is billed to
// the unit from the upstream's usage.
func TestAdaptorShapes(t *testing.T) {
	for _, pc := range protocolCases {
		t.Run(pc.name, func(t *testing.T) {
			up := newFake(t, pc.fake)
			e := newEnv(t, envConfig{channels: []*model.Channel{channel(pc.typ, "a", up.URL, pc.model)}})
			srv := newServer(t, e)
			client := sdk.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey(e.key), option.WithMaxRetries(0))
			ctx := t.Context()
			params := sdk.ChatCompletionNewParams{Model: pc.model, Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}}

			resp, err := client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if c := resp.Choices[0]; c.Message.Content != "Hello there" || c.FinishReason != "stop" || c.Message.Role != "assistant" ||
				resp.Object != "chat.completion" || resp.Model == "" || resp.ID == "" {
				t.Errorf("chat = %+v", resp)
			}
			if u := resp.Usage; u.PromptTokens != 1000 || u.CompletionTokens != 200 || u.TotalTokens != 1200 {
				t.Errorf("usage = %+v", u)
			}

			stream := client.Chat.Completions.NewStreaming(ctx, sdk.ChatCompletionNewParams{Model: pc.model, Messages: params.Messages,
				StreamOptions: sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)}})
			var acc sdk.ChatCompletionAccumulator
			for stream.Next() {
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("chunk rejected by the accumulator: %+v", stream.Current())
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if g := acc.Choices[0].Message.Content; g != "Hello world" || acc.Choices[0].FinishReason != "stop" {
				t.Errorf("accumulated %q (%s), want Hello world", g, acc.Choices[0].FinishReason)
			}
			if u := acc.Usage; u.PromptTokens != 1000 || u.CompletionTokens != 200 {
				t.Errorf("stream usage = %+v", u)
			}

			tools := sdk.ChatCompletionNewParams{Model: pc.model, Messages: params.Messages, Tools: []sdk.ChatCompletionToolUnionParam{
				sdk.ChatCompletionFunctionTool(sdk.FunctionDefinitionParam{Name: "get_weather",
					Parameters: sdk.FunctionParameters{"type": "object", "properties": map[string]any{"location": map[string]any{"type": "string"}}}}),
			}}
			resp, err = client.Chat.Completions.New(ctx, tools)
			if err != nil {
				t.Fatal(err)
			}
			c := resp.Choices[0]
			if c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0].Function.Name != "get_weather" ||
				c.Message.ToolCalls[0].ID == "" || c.Message.ToolCalls[0].Type != "function" {
				t.Fatalf("tool call answer = %+v", c)
			}
			var args map[string]string
			if err := json.Unmarshal([]byte(c.Message.ToolCalls[0].Function.Arguments), &args); err != nil || args["location"] != "Paris" {
				t.Errorf("arguments = %q", c.Message.ToolCalls[0].Function.Arguments)
			}

			_, err = client.Chat.Completions.New(ctx, sdk.ChatCompletionNewParams{Model: pc.model, Messages: params.Messages, MaxTokens: sdk.Int(999999)})
			var apiErr *sdk.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type != "invalid_request_error" || !strings.Contains(apiErr.Message, "max_tokens is too large") {
				t.Errorf("error = %v", err)
			}

			srv.Close() // waits for the stream's settle
			logs := e.logs()
			if len(logs) != 3 {
				t.Fatalf("%d consume logs, want 3", len(logs))
			}
			for _, l := range logs {
				if int64(l.Quota) != pc.quota || l.PromptTokens != 1000 || l.CompletionTokens != 200 {
					t.Errorf("log %+v: quota %d, want %d", l, l.Quota, pc.quota)
				}
			}
			b := e.balances(1)
			if want := 3 * pc.quota; b.UserUsed != want || b.TokenUsed != want || b.ChannelUsed != want {
				t.Errorf("balances = %+v, want %d used", b, want)
			}
		})
	}
}

// TestAdaptorUpstreamRequests checks what the Anthropic and Gemini fakes
// receive: path, auth header, version header and a converted body.
func TestAdaptorUpstreamRequests(t *testing.T) {
	an := newFake(t, anthropicFake)
	ge := newFake(t, geminiFake)
	e := newEnv(t, envConfig{channels: []*model.Channel{
		channel(14, "claude", an.URL, "claude-3-haiku-20240307"), channel(24, "gem", ge.URL, "gemini-1.5-flash"),
	}})
	if w := e.do("POST", "/v1/chat/completions", `{"model":"claude-3-haiku-20240307","messages":[{"role":"system","content":"S"},{"role":"user","content":"hi"}]}`); w.Code != 200 {
		t.Fatalf("claude: %d %s", w.Code, w.Body)
	}
	got := an.last(t)
	if got.Path != "/v1/messages" || got.Header.Get("x-api-key") != "ck-claude" || got.Header.Get("anthropic-version") != "2023-06-01" ||
		got.Header.Get("Authorization") != "" {
		t.Errorf("anthropic got %s, headers %v", got.Path, got.Header)
	}
	if want := `{"model":"claude-3-haiku-20240307","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"system":[{"type":"text","text":"S"}],"max_tokens":4096}`; got.Body != want {
		t.Errorf("anthropic body = %s, want %s", got.Body, want)
	}
	if w := e.do("POST", "/v1/chat/completions", `{"model":"gemini-1.5-flash","stream":true,"messages":[{"role":"user","content":"hi"}]}`); w.Code != 200 {
		t.Fatalf("gemini: %d %s", w.Code, w.Body)
	} else if d := sseData(w.Body.String()); len(d) == 0 || d[len(d)-1] != "[DONE]" || strings.Contains(w.Body.String(), `"usage"`) {
		t.Errorf("gemini stream without include_usage = %s", w.Body)
	}
	got = ge.last(t)
	if got.Path != "/v1beta/models/gemini-1.5-flash:streamGenerateContent" || got.RawQuery != "alt=sse" || got.Header.Get("x-goog-api-key") != "ck-gem" {
		t.Errorf("gemini got %s?%s, headers %v", got.Path, got.RawQuery, got.Header)
	}
	if want := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`; got.Body != want {
		t.Errorf("gemini body = %s, want %s", got.Body, want)
	}
	if w := e.do("POST", "/v1/embeddings", `{"model":"claude-3-haiku-20240307","input":"x"}`); w.Code != 400 || !strings.Contains(w.Body.String(), "unsupported_endpoint") {
		t.Errorf("embeddings on Anthropic: %d %s", w.Code, w.Body)
	}
}

// TestAdaptorAuthDisables: an Anthropic 401 and Gemini's API_KEY_INVALID
// disable the channel like OpenAI's 401, and the request is retried on the
// next channel.
func TestAdaptorAuthDisables(t *testing.T) {
	for _, pc := range protocolCases[1:] {
		t.Run(pc.name, func(t *testing.T) {
			dead := newFake(t, pc.fake)
			good := newFake(t, pc.fake)
			bad := channel(pc.typ, "dead", dead.URL, pc.model)
			p := int64(10)
			bad.Priority = &p
			e := newEnv(t, envConfig{channels: []*model.Channel{bad, channel(pc.typ, "good", good.URL, pc.model)},
				options: map[string]string{"AutomaticDisableChannelEnabled": "true", "RetryTimes": "1"}})
			w := e.do("POST", "/v1/chat/completions", `{"model":"`+pc.model+`","messages":[{"role":"user","content":"hi"}]}`)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if s := e.channelStatus(1); s != model.ChannelAutoDisabled {
				t.Errorf("dead channel status %d, want auto-disabled", s)
			}
			if dead.hits.Load() != 1 || good.hits.Load() != 1 {
				t.Errorf("hits dead %d good %d", dead.hits.Load(), good.hits.Load())
			}
			if logs := e.logs(); len(logs) != 1 || int64(logs[0].Quota) != pc.quota || logs[0].ChannelID != 2 {
				t.Errorf("logs = %+v, want one of %d on channel 2", logs, pc.quota)
			}
		})
	}
}

// TestGeminiEmbeddings: embeddings go through batchEmbedContents, come back
// in OpenAI's shape, and are billed by the local count (Gemini reports no
// usage for them).
func TestGeminiEmbeddings(t *testing.T) {
	up := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		io.WriteString(w, `{"embeddings":[{"values":[0.5,-0.25]},{"values":[1,2]}]}`)
	})
	e := newEnv(t, envConfig{channels: []*model.Channel{channel(24, "gem", up.URL, "text-embedding-004")},
		options: map[string]string{"ModelRatio": `{"text-embedding-004":1}`}})
	w := e.do("POST", "/v1/embeddings", `{"model":"text-embedding-004","input":["hello world","the quick brown fox"]}`)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := up.last(t)
	if got.Path != "/v1beta/models/text-embedding-004:batchEmbedContents" || got.Header.Get("x-goog-api-key") != "ck-gem" {
		t.Errorf("upstream got %s %v", got.Path, got.Header)
	}
	if want := `{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"hello world"}]}},{"model":"models/text-embedding-004","content":{"parts":[{"text":"the quick brown fox"}]}}]}`; got.Body != want {
		t.Errorf("upstream body = %s, want %s", got.Body, want)
	}
	in, _ := openai.ParseInput(json.RawMessage(`["hello world","the quick brown fox"]`))
	tokens := tokenizer.CountInput("text-embedding-004", in)
	var list openai.EmbeddingList
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list.Data) != 2 || list.Data[1].Embedding[1] != 2 || list.Usage.PromptTokens != tokens {
		t.Errorf("answer = %s (%v), want 2 vectors and %d prompt tokens", w.Body, err, tokens)
	}
	// Ratio 1: the quota is the token count.
	if logs := e.logs(); len(logs) != 1 || logs[0].Quota != tokens || logs[0].PromptTokens != tokens || tokens == 0 {
		t.Errorf("logs = %+v, want one of %d units", logs, tokens)
	}
}

// TestAnthropicOverloadRetriesAndStreamError: a 529 before the first byte is
// retried on the next channel without disabling the first; an error event
// mid-stream ends the client's stream with that error (no [DONE]) and what
// was delivered is billed.
func TestAnthropicOverloadRetriesAndStreamError(t *testing.T) {
	busy := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(529)
		io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	})
	cut := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1000,\"output_tokens\":1}}}\n\n")
		io.WriteString(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello there\"}}\n\n")
		io.WriteString(w, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n")
	})
	first := channel(14, "busy", busy.URL, "claude-3-haiku-20240307")
	p := int64(10)
	first.Priority = &p
	e := newEnv(t, envConfig{channels: []*model.Channel{first, channel(14, "cut", cut.URL, "claude-3-haiku-20240307")},
		options: map[string]string{"AutomaticDisableChannelEnabled": "true", "RetryTimes": "1"}})
	w := e.do("POST", "/v1/chat/completions", `{"model":"claude-3-haiku-20240307","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if w.Code != 200 || busy.hits.Load() != 1 || cut.hits.Load() != 1 {
		t.Fatalf("status %d, hits %d/%d: %s", w.Code, busy.hits.Load(), cut.hits.Load(), w.Body)
	}
	if s := e.channelStatus(1); s != model.ChannelEnabled {
		t.Errorf("overloaded channel status %d, want still enabled", s)
	}
	d := sseData(w.Body.String())
	if len(d) == 0 || !strings.Contains(d[len(d)-1], `"type":"overloaded_error"`) || strings.Contains(w.Body.String(), "[DONE]") {
		t.Errorf("stream = %s, want it to end with the upstream's error and no [DONE]", w.Body)
	}
	// Prompt from message_start; completion = the delivered "Hello there".
	compl := tokenizer.CountText("claude-3-haiku-20240307", "Hello there")
	logs := e.logs()
	if len(logs) != 1 || logs[0].PromptTokens != 1000 || logs[0].CompletionTokens != compl || logs[0].ChannelID != 2 {
		t.Fatalf("logs = %+v, want 1000 + %d on channel 2", logs, compl)
	}
	// claude-3-haiku: ceil((1000 + compl×5) × 0.125).
	if want := int((1000+compl*5)*125+999) / 1000; logs[0].Quota != want {
		t.Errorf("quota %d, want %d", logs[0].Quota, want)
	}
}
