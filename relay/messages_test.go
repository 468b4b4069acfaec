package relay

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"

	"one-api/model"
	anthropicwire "one-api/relay/adaptor/anthropic"
)

const claude = "claude-3-5-sonnet-20241022"

// messageBody is a complete Messages API answer.
const messageBody = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-sonnet-20241022","content":[{"type":"text","text":"Hello there"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":5,"cache_read_input_tokens":10,"output_tokens":30}}`

// messageEvents is a Messages API stream as Anthropic sends it.
var messageEvents = []string{
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-3-5-sonnet-20241022\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n",
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
	"event: ping\ndata: {\"type\": \"ping\"}\n\n",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n",
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
}

// anthropicUpstream is a fake Anthropic API.
func anthropicUpstream(t *testing.T) *fake {
	return newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/messages/count_tokens":
			io.WriteString(w, `{"input_tokens":42}`)
		case strings.Contains(string(body), `"stream":true`):
			w.Header().Set("Content-Type", "text/event-stream")
			for _, e := range messageEvents {
				io.WriteString(w, e)
				w.(http.Flusher).Flush()
			}
		default:
			io.WriteString(w, messageBody)
		}
	})
}

func anthropicClient(url, key string) anthropic.Client {
	return anthropic.NewClient(aoption.WithBaseURL(url), aoption.WithAPIKey(key), aoption.WithMaxRetries(0))
}

var messageParams = anthropic.MessageNewParams{
	Model:     claude,
	MaxTokens: 256,
	Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hello"))},
}

// TestMessagesSDK drives /v1/messages natively to an Anthropic channel with
// Anthropic's Go SDK (key in x-api-key): non-stream and stream, billed from
// Anthropic's usage with its cache tokens, plus count_tokens.
func TestMessagesSDK(t *testing.T) {
	up := anthropicUpstream(t)
	e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelAnthropic, "c", up.URL, claude)}})
	srv := newServer(t, e)
	client := anthropicClient(srv.URL, e.key)
	ctx := t.Context()

	// claude-3-5-sonnet: ratio 1.5, completion ratio 5. The prompt is input
	// + cache writes + cache reads: ceil((20+5+10 + 30×5) × 1.5) = 278; the
	// stream ceil((25+0+100 + 15×5) × 1.5) = 300.
	const quotaJSON, quotaStream = 278, 300

	t.Run("non-stream", func(t *testing.T) {
		msg, err := client.Messages.New(ctx, messageParams)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "Hello there" || msg.Usage.CacheReadInputTokens != 10 {
			t.Errorf("message = %+v", msg)
		}
		got := up.last(t)
		// The SDK's own anthropic-version goes through.
		if got.Path != "/v1/messages" || got.Header.Get("X-Api-Key") != "ck-c" || got.Header.Get("Authorization") != "" ||
			got.Header.Get("Anthropic-Version") == "" {
			t.Errorf("upstream got %s with x-api-key %q, Authorization %q, anthropic-version %q",
				got.Path, got.Header.Get("X-Api-Key"), got.Header.Get("Authorization"), got.Header.Get("Anthropic-Version"))
		}
	})

	t.Run("stream", func(t *testing.T) {
		stream := client.Messages.NewStreaming(ctx, messageParams)
		var msg anthropic.Message
		var types []string
		for stream.Next() {
			ev := stream.Current()
			types = append(types, ev.Type)
			if err := msg.Accumulate(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		// The SDK drops pings itself (TestMessagesStreamUnchanged sees them).
		want := "message_start content_block_start content_block_delta content_block_delta content_block_stop message_delta message_stop"
		if g := strings.Join(types, " "); g != want {
			t.Errorf("events = %s, want %s", g, want)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "Hello" || msg.Usage.OutputTokens != 15 {
			t.Errorf("accumulated %+v", msg)
		}
	})

	t.Run("count_tokens", func(t *testing.T) {
		n, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: claude, Messages: messageParams.Messages})
		if err != nil {
			t.Fatal(err)
		}
		if n.InputTokens != 42 || up.last(t).Path != "/v1/messages/count_tokens" {
			t.Errorf("count = %d, upstream path %s; want the channel's 42", n.InputTokens, up.last(t).Path)
		}
	})

	srv.Close()
	logs := e.logs()
	if len(logs) != 2 {
		t.Fatalf("%d consume logs, want 2 (count_tokens is free)", len(logs))
	}
	for i, want := range []struct {
		quota, prompt, completion int
		stream                    bool
		content                   string
	}{
		{quotaJSON, 35, 30, false, "model ratio 1.50, group ratio 1.00, completion ratio 5.00, route /v1/messages, cache write tokens 5, cache read tokens 10"},
		{quotaStream, 125, 15, true, "model ratio 1.50, group ratio 1.00, completion ratio 5.00, route /v1/messages, cache write tokens 0, cache read tokens 100"},
	} {
		l := logs[i]
		if l.Quota != want.quota || l.PromptTokens != want.prompt || l.CompletionTokens != want.completion || l.IsStream != want.stream ||
			l.Content != want.content || l.ModelName != claude || l.ChannelID != 1 {
			t.Errorf("log %d = %+v, want quota %d, tokens %d/%d, content %q", i, l, want.quota, want.prompt, want.completion, want.content)
		}
	}
	b := e.balances(1)
	if want := int64(quotaJSON + quotaStream); b.UserUsed != want || b.TokenUsed != want || b.ChannelUsed != want || b.Requests != 2 {
		t.Errorf("balances = %+v, want %d used over 2 requests", b, want)
	}
}

// TestMessagesErrors: every refusal on /v1/messages is in Anthropic's shape
// with a matching status, as the SDK reads it.
func TestMessagesErrors(t *testing.T) {
	up := anthropicUpstream(t)
	overloaded := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(529)
		io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	})
	geminiUp := newFake(t, answerJSON(1, 1))
	for _, tc := range []struct {
		name    string
		cfg     envConfig
		key     string // "" = the env's key
		model   string
		status  int
		errType string
	}{
		{"bad key", envConfig{channels: []*model.Channel{channel(model.ChannelAnthropic, "c", up.URL, claude)}}, "sk-wrong", claude, 401, "authentication_error"},
		{"model not allowed", envConfig{models: "other", channels: []*model.Channel{channel(model.ChannelAnthropic, "c", up.URL, claude)}}, "", claude, 403, "permission_error"},
		{"quota", envConfig{userQuota: 1, channels: []*model.Channel{channel(model.ChannelAnthropic, "c", up.URL, claude)}}, "", claude, 403, "permission_error"},
		{"no channel", envConfig{channels: []*model.Channel{channel(model.ChannelAnthropic, "c", up.URL, claude)}}, "", "claude-nope", 404, "not_found_error"},
		{"no capable channel", envConfig{channels: []*model.Channel{channel(channelGemini, "g", geminiUp.URL, claude)}}, "", claude, 503, "api_error"},
		{"upstream overloaded", envConfig{channels: []*model.Channel{channel(model.ChannelAnthropic, "c", overloaded.URL, claude)}}, "", claude, 529, "overloaded_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			srv := newServer(t, e)
			key := tc.key
			if key == "" {
				key = e.key
			}
			params := messageParams
			params.Model = anthropic.Model(tc.model)
			client := anthropicClient(srv.URL, key)
			_, err := client.Messages.New(t.Context(), params)
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v (%T), want *anthropic.Error", err, err)
			}
			if apiErr.StatusCode != tc.status || string(apiErr.Type()) != tc.errType || !strings.Contains(apiErr.Message, "request id") && tc.status != 529 {
				t.Errorf("error = %d %q %q, want %d %s", apiErr.StatusCode, apiErr.Type(), apiErr.Message, tc.status, tc.errType)
			}
			var raw struct {
				Type  string          `json:"type"`
				Error json.RawMessage `json:"error"`
			}
			if json.Unmarshal([]byte(apiErr.RawJSON()), &raw) != nil || raw.Type != "error" {
				t.Errorf("body %s is not Anthropic's error shape", apiErr.RawJSON())
			}
			srv.Close()
			if len(e.logs()) != 0 || e.balances(0).UserUsed != 0 {
				t.Error("a failed request was billed")
			}
			if geminiUp.hits.Load() != 0 {
				t.Error("a Gemini channel was sent a Messages request")
			}
		})
	}
}

// TestCountTokensEstimate: without an Anthropic channel for the model the
// gateway answers its own estimate and says so.
func TestCountTokensEstimate(t *testing.T) {
	e := newEnv(t, envConfig{})
	w := e.do("POST", "/v1/messages/count_tokens", `{"model":"claude-3-5-sonnet-20241022","system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"Say hello"}]}]}`,
		"Authorization", "", "x-api-key", e.key)
	if w.Code != http.StatusOK || w.Header().Get(countTokensSourceHeader) != "estimate" {
		t.Fatalf("got %d %s (%s)", w.Code, w.Body, w.Header().Get(countTokensSourceHeader))
	}
	var got struct {
		InputTokens int `json:"input_tokens"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if want := countText(claude, []byte("Be brief.\nSay hello\n")); got.InputTokens != want || want == 0 {
		t.Errorf("input_tokens = %d, want %d", got.InputTokens, want)
	}
}

// TestMessagesStreamUnchanged: the named events reach the client byte for
// byte, pings included; a client without anthropic-version gets the
// default one sent upstream.
func TestMessagesStreamUnchanged(t *testing.T) {
	up := anthropicUpstream(t)
	e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelAnthropic, "c", up.URL, claude)}})
	w := e.do("POST", "/v1/messages", `{"model":"claude-3-5-sonnet-20241022","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		"Authorization", "", "x-api-key", e.key, "anthropic-beta", "prompt-caching-2024-07-31")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if g, want := w.Body.String(), strings.Join(messageEvents, ""); g != want {
		t.Errorf("stream =\n%s\nwant\n%s", g, want)
	}
	h := up.last(t).Header
	if h.Get("Anthropic-Version") != anthropicwire.Version || h.Get("Anthropic-Beta") != "prompt-caching-2024-07-31" {
		t.Errorf("upstream anthropic-version %q, anthropic-beta %q", h.Get("Anthropic-Version"), h.Get("Anthropic-Beta"))
	}
	if logs := e.logs(); len(logs) != 1 || logs[0].Quota != 300 {
		t.Errorf("logs = %+v, want one of 300 units", logs)
	}
}
