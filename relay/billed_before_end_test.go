package relay

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"one-api/model"
)

// TestStreamsAreBilledBeforeTheirFinalEvent: on every streaming route and
// channel kind, by the time a client reads the event that ends its stream
// ([DONE], message_stop, response.completed) the request's consume log is
// committed (the synchronous sink here). A gateway killed right after a
// client saw its stream end has therefore logged and charged it (issue 19:
// the kill -9 test's guarantee, on every route).
func TestStreamsAreBilledBeforeTheirFinalEvent(t *testing.T) {
	for _, tc := range []struct {
		name, path, body, final string
		channel                 func(t *testing.T) *model.Channel
	}{
		{"chat completions, OpenAI channel", "/v1/chat/completions",
			`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "data: [DONE]",
			func(t *testing.T) *model.Channel {
				return channel(model.ChannelOpenAI, "o", openaiForMessages(t).URL, "gpt-4o")
			}},
		{"chat completions, Anthropic channel (converted)", "/v1/chat/completions",
			`{"model":"` + claude + `","stream":true,"messages":[{"role":"user","content":"hi"}]}`, "data: [DONE]",
			func(t *testing.T) *model.Channel {
				return channel(model.ChannelAnthropic, "a", anthropicUpstream(t).URL, claude)
			}},
		{"messages, Anthropic channel (native)", "/v1/messages",
			`{"model":"` + claude + `","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, "event: message_stop",
			func(t *testing.T) *model.Channel {
				return channel(model.ChannelAnthropic, "a", anthropicUpstream(t).URL, claude)
			}},
		{"messages, OpenAI channel (converted)", "/v1/messages",
			`{"model":"gpt-4o","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, "event: message_stop",
			func(t *testing.T) *model.Channel {
				return channel(model.ChannelOpenAI, "o", openaiForMessages(t).URL, "gpt-4o")
			}},
		{"responses, OpenAI channel", "/v1/responses",
			`{"model":"gpt-4o","stream":true,"input":"hi"}`, "event: response.completed",
			func(t *testing.T) *model.Channel {
				return channel(model.ChannelOpenAI, "o", responsesUpstream(t).URL, "gpt-4o")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{channels: []*model.Channel{tc.channel(t)}})
			srv := newServer(t, e)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+e.key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if sc.Text() != tc.final {
					continue
				}
				if n := len(e.logs()); n != 1 {
					t.Fatalf("the client read %q with %d consume logs committed, want 1", tc.final, n)
				}
				return
			}
			t.Fatalf("the stream ended without %q (scan error: %v)", tc.final, sc.Err())
		})
	}
}
