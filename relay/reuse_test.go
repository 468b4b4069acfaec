package relay

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"one-api/model"
)

// A stream that ended with [DONE] leaves its upstream connection in the
// idle pool, so the next stream starts without a dial (issue 19: one
// stream in five paid a TCP connect before its first token); an upstream
// that holds the response open after [DONE] loses its connection instead
// of holding the client's response. Both for an OpenAI client and for an
// Anthropic Messages client over the same OpenAI channel.
func TestStreamKeepsUpstreamConnection(t *testing.T) {
	const (
		chatBody     = `{"model":"gpt-3.5-turbo","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		messagesBody = `{"model":"gpt-3.5-turbo","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
		chatEnd      = "data: [DONE]\n\n"
		messagesEnd  = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	)
	for _, tc := range []struct {
		name       string
		path, body string
		wantEnd    string
		holdOpen   bool // after [DONE], wait for the gateway to hang up
		wantConns  int
	}{
		{"chat, body ends after [DONE]", "/v1/chat/completions", chatBody, chatEnd, false, 1},
		{"chat, body held open after [DONE]", "/v1/chat/completions", chatBody, chatEnd, true, 2},
		{"messages, body ends after [DONE]", "/v1/messages", messagesBody, messagesEnd, false, 1},
		{"messages, body held open after [DONE]", "/v1/messages", messagesBody, messagesEnd, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conns sync.Map // the upstream's client addresses: one per connection
			cancelled := make(chan struct{}, 2)
			up := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				conns.Store(r.RemoteAddr, true)
				w.Header().Set("Content-Type", "text/event-stream")
				fmt.Fprintf(w, "data: %s\n\ndata: %s\n\ndata: [DONE]\n\n", chunk("hi"), finishChunk)
				w.(http.Flusher).Flush()
				if !tc.holdOpen {
					// The body's end follows in a later packet, as from a
					// server that flushes each event: the relay has to read
					// on after [DONE] to see it.
					time.Sleep(10 * time.Millisecond)
					return
				}
				select {
				case <-r.Context().Done():
					cancelled <- struct{}{}
				case <-time.After(10 * time.Second):
				}
			})
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			t.Cleanup(client.CloseIdleConnections)
			e := newEnv(t, envConfig{client: client, streamingTimeout: time.Minute,
				channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo")}})
			for i := range 2 {
				w := e.do("POST", tc.path, tc.body)
				if w.Code != http.StatusOK || !strings.HasSuffix(w.Body.String(), tc.wantEnd) {
					t.Fatalf("stream %d: status %d, body %q", i+1, w.Code, w.Body)
				}
				if tc.holdOpen {
					select {
					case <-cancelled:
					case <-time.After(5 * time.Second):
						t.Fatalf("stream %d: the upstream response held open was never hung up", i+1)
					}
				}
			}
			var g int
			conns.Range(func(any, any) bool { g++; return true })
			if g != tc.wantConns {
				t.Errorf("upstream connections = %d, want %d", g, tc.wantConns)
			}
		})
	}
}

const finishChunk = `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-3.5-turbo","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`
