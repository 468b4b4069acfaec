package relay_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"one-api/model"
	"one-api/relay"
)

// slowClaude is an Anthropic upstream whose stream starts, sends deltas
// text deltas at every tick and never finishes on its own (deltas = -1
// sends one and then goes silent), for the shutdown and stall cases.
func slowClaude(t *testing.T, deltas int, tick time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		fmt.Fprint(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-3-5-sonnet-20241022\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n")
		fmt.Fprint(w, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
		fl.Flush()
		for i := 0; deltas < 0 && i < 1 || i < deltas; i++ {
			fmt.Fprint(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hello there \"}}\n\n")
			fl.Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(tick):
			}
		}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// withClaude adds an Anthropic channel on url to f and reloads routing.
func withClaude(t *testing.T, f *faultStack, url string) {
	t.Helper()
	ch := &model.Channel{Type: model.ChannelAnthropic, Key: channelSecret, Status: model.ChannelEnabled,
		Name: "claude", BaseURL: &url, Models: "claude-3-5-sonnet-20241022", Group: "default"}
	if err := f.store.CreateChannels(context.Background(), []*model.Channel{ch}); err != nil {
		t.Fatal(err)
	}
	if err := f.relay.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// streamEvents posts a streaming chat for claude and returns the data
// lines, calling at(n) after the n-th.
func streamClaude(t *testing.T, url string, at func(n int)) []string {
	t.Helper()
	body := `{"model":"claude-3-5-sonnet-20241022","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer sk-"+faultKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var data []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
			at(len(data))
		}
	}
	return data
}

// TestAdaptedStreamsEndDeliberately (issue 12 on adaptor channels): a
// converted stream still running at the shutdown deadline, or stalled past
// STREAMING_TIMEOUT, ends with an error event saying why, and what it
// delivered is billed once; the reservation's rest goes back.
func TestAdaptedStreamsEndDeliberately(t *testing.T) {
	for _, p := range []struct {
		name string
		p    profile
	}{{"direct", allOff}, {"batched", allOn}} {
		t.Run(p.name+"/shutdown", func(t *testing.T) {
			f := newFaultStack(t, p.p, func(c *relay.Config) { c.StreamingTimeout = 2 * time.Minute })
			withClaude(t, f, slowClaude(t, 1000, 20*time.Millisecond))
			srv := httptest.NewServer(f.engine)
			defer srv.Close()
			data := streamClaude(t, srv.URL, func(n int) {
				if n == 3 {
					f.relay.EndInFlight()
				}
			})
			if len(data) < 4 || !strings.Contains(data[len(data)-1], `"code":"server_shutting_down"`) {
				t.Errorf("events %q, want the last a server_shutting_down error", data)
			}
			f.checkLedger(t, 1)
		})
		t.Run(p.name+"/stall", func(t *testing.T) {
			f := newFaultStack(t, p.p, func(c *relay.Config) { c.StreamingTimeout = 300 * time.Millisecond })
			withClaude(t, f, slowClaude(t, -1, time.Millisecond))
			srv := httptest.NewServer(f.engine)
			defer srv.Close()
			data := streamClaude(t, srv.URL, func(int) {})
			if len(data) < 2 || !strings.Contains(data[len(data)-1], `"code":"stream_timeout"`) {
				t.Errorf("events %q, want the last a stream_timeout error", data)
			}
			f.checkLedger(t, 1)
		})
	}
}
