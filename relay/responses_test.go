package relay

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"one-api/metrics"
	"one-api/model"
)

// responseBody is a complete Responses API answer with usage.
func responseBody(id string, in, cached, out, reasoning int) string {
	return fmt.Sprintf(`{"id":%q,"object":"response","created_at":1,"status":"completed","model":"gpt-4o","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello there","annotations":[]}]}],"usage":{"input_tokens":%d,"input_tokens_details":{"cached_tokens":%d},"output_tokens":%d,"output_tokens_details":{"reasoning_tokens":%d},"total_tokens":%d}}`,
		id, in, cached, out, reasoning, in+out)
}

// responseEvents is a Responses API stream: created, three text deltas,
// completed with usage (usage "" = a completed event without usage).
func responseEvents(id, usage string) []string {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	evs := []string{ev("response.created", fmt.Sprintf(`{"type":"response.created","sequence_number":0,"response":{"id":%q,"object":"response","created_at":1,"status":"in_progress","model":"gpt-4o","output":[],"usage":null}}`, id))}
	for i, d := range streamChunks {
		evs = append(evs, ev("response.output_text.delta", fmt.Sprintf(`{"type":"response.output_text.delta","sequence_number":%d,"item_id":"msg_1","output_index":0,"content_index":0,"delta":%q}`, i+1, d)))
	}
	u := ""
	if usage != "" {
		u = `,"usage":` + usage
	}
	return append(evs, ev("response.completed", fmt.Sprintf(`{"type":"response.completed","sequence_number":4,"response":{"id":%q,"object":"response","created_at":1,"status":"completed","model":"gpt-4o","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello world","annotations":[]}]}]%s}}`, id, u)))
}

// responsesUpstream is a fake OpenAI with the Responses API: POST answers
// resp_json or streams resp_stream, GET returns the stored object, DELETE
// deletes it.
func responsesUpstream(t *testing.T) *fake {
	return newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && strings.Contains(string(body), `"stream":true`):
			w.Header().Set("Content-Type", "text/event-stream")
			for _, e := range responseEvents("resp_stream", `{"input_tokens":30,"input_tokens_details":{"cached_tokens":0},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":42}`) {
				io.WriteString(w, e)
				w.(http.Flusher).Flush()
			}
		case r.Method == http.MethodPost:
			io.WriteString(w, responseBody("resp_json", 100, 40, 50, 20))
		case r.Method == http.MethodGet:
			io.WriteString(w, responseBody(strings.TrimPrefix(r.URL.Path, "/v1/responses/"), 100, 40, 50, 20))
		case r.Method == http.MethodDelete:
			fmt.Fprintf(w, `{"id":%q,"object":"response","deleted":true}`, strings.TrimPrefix(r.URL.Path, "/v1/responses/"))
		}
	})
}

// TestResponsesSDK drives /v1/responses with openai-go's Responses client:
// non-stream and stream, each billed exactly once from its usage, then the
// stored response fetched and deleted through the channel that made it.
func TestResponsesSDK(t *testing.T) {
	up := responsesUpstream(t)
	other := newFake(t, answerStatus(http.StatusInternalServerError, "not_me"))
	e := newEnv(t, envConfig{channels: []*model.Channel{
		channel(model.ChannelOpenAI, "a", up.URL, "gpt-4o"),
		// Serves the model but not the Responses API: never picked.
		channel(model.ChannelAnthropic, "claude", other.URL, "gpt-4o"),
	}})
	srv := newServer(t, e)
	client := sdk.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey(e.key), option.WithMaxRetries(0))
	ctx := t.Context()
	params := responses.ResponseNewParams{
		Model: "gpt-4o",
		Input: responses.ResponseNewParamsInputUnion{OfString: sdk.String("Say hello")},
	}

	// gpt-4o: ratio 2.5, completion ratio 4. Cached input tokens are prompt
	// tokens and reasoning tokens completion tokens, as in chat:
	// ceil((100 + 50×4) × 2.5) = 750; the stream ceil((30 + 12×4) × 2.5) = 195.
	const quotaJSON, quotaStream = 750, 195

	t.Run("non-stream", func(t *testing.T) {
		resp, err := client.Responses.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if g := resp.OutputText(); g != "Hello there" {
			t.Errorf("output text = %q", g)
		}
		if u := resp.Usage; u.InputTokens != 100 || u.OutputTokens != 50 || u.InputTokensDetails.CachedTokens != 40 || u.OutputTokensDetails.ReasoningTokens != 20 {
			t.Errorf("usage = %+v", u)
		}
		got := up.last(t)
		if got.Path != "/v1/responses" || got.Header.Get("Authorization") != "Bearer ck-a" {
			t.Errorf("upstream got %s with Authorization %q", got.Path, got.Header.Get("Authorization"))
		}
		if strings.Contains(got.Body, "stream_options") {
			t.Errorf("upstream body %s was given stream_options; the Responses API has no include_usage", got.Body)
		}
	})

	t.Run("stream", func(t *testing.T) {
		stream := client.Responses.NewStreaming(ctx, params)
		var text strings.Builder
		var types []string
		var final responses.ResponseUsage
		for stream.Next() {
			ev := stream.Current()
			types = append(types, ev.Type)
			switch ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.Delta)
			case "response.completed":
				final = ev.Response.Usage
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if g := text.String(); g != "Hello world" {
			t.Errorf("streamed text = %q", g)
		}
		want := "response.created response.output_text.delta response.output_text.delta response.output_text.delta response.completed"
		if g := strings.Join(types, " "); g != want {
			t.Errorf("events = %s, want %s", g, want)
		}
		if final.InputTokens != 30 || final.OutputTokens != 12 {
			t.Errorf("completed usage = %+v", final)
		}
	})

	t.Run("retrieve and delete", func(t *testing.T) {
		resp, err := client.Responses.Get(ctx, "resp_json", responses.ResponseGetParams{})
		if err != nil {
			t.Fatal(err)
		}
		if resp.ID != "resp_json" || up.last(t).Path != "/v1/responses/resp_json" || up.last(t).Method != http.MethodGet {
			t.Errorf("got %q; upstream saw %s %s", resp.ID, up.last(t).Method, up.last(t).Path)
		}
		if err := client.Responses.Delete(ctx, "resp_stream"); err != nil {
			t.Fatal(err)
		}
		if g := up.last(t); g.Method != http.MethodDelete || g.Path != "/v1/responses/resp_stream" {
			t.Errorf("upstream saw %s %s", g.Method, g.Path)
		}
		// Deleted: the gateway no longer knows where it lived.
		_, err = client.Responses.Get(ctx, "resp_stream", responses.ResponseGetParams{})
		var apiErr *sdk.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Type != "invalid_request_error" {
			t.Errorf("get after delete: %v, want an OpenAI-format 404", err)
		}
	})

	srv.Close()
	if n := other.hits.Load(); n != 0 {
		t.Errorf("the Anthropic channel got %d Responses requests", n)
	}
	logs := e.logs()
	if len(logs) != 2 {
		t.Fatalf("%d consume logs, want 2 (retrieval and deletion are free)", len(logs))
	}
	for i, want := range []struct {
		quota, prompt, completion int
		stream                    bool
		content                   string
	}{
		{quotaJSON, 100, 50, false, "model ratio 2.50, group ratio 1.00, completion ratio 4.00, route /v1/responses, cached tokens 40, reasoning tokens 20"},
		{quotaStream, 30, 12, true, "model ratio 2.50, group ratio 1.00, completion ratio 4.00, route /v1/responses, cached tokens 0, reasoning tokens 0"},
	} {
		l := logs[i]
		if l.Quota != want.quota || l.PromptTokens != want.prompt || l.CompletionTokens != want.completion || l.IsStream != want.stream ||
			l.Content != want.content || l.ModelName != "gpt-4o" || l.ChannelID != 1 {
			t.Errorf("log %d = %+v, want quota %d, tokens %d/%d, content %q", i, l, want.quota, want.prompt, want.completion, want.content)
		}
	}
	b := e.balances(1)
	if want := int64(quotaJSON + quotaStream); b.UserUsed != want || b.TokenUsed != want || b.ChannelUsed != want || b.Requests != 2 {
		t.Errorf("balances = %+v, want %d used over 2 requests", b, want)
	}
}

// TestResponsesRouting: the route goes only to channels that speak it,
// says so clearly when none does, and addresses Azure's v1 surface.
func TestResponsesRouting(t *testing.T) {
	t.Run("no capable channel", func(t *testing.T) {
		up := newFake(t, answerJSON(1, 1))
		e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelAnthropic, "c", up.URL, "gpt-4o")}})
		w := e.do("POST", "/v1/responses", `{"model":"gpt-4o","input":"hi"}`)
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"code":"no_capable_channel"`) ||
			!strings.Contains(w.Body.String(), "can serve /v1/responses") {
			t.Errorf("got %d %s, want 503 no_capable_channel", w.Code, w.Body)
		}
		if up.hits.Load() != 0 || len(e.logs()) != 0 || e.balances(0).UserUsed != 0 {
			t.Error("a refused request reached upstream or was billed")
		}
	})

	t.Run("azure", func(t *testing.T) {
		up := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
			io.WriteString(w, responseBody("resp_az", 10, 0, 5, 0))
		})
		ch := channel(model.ChannelAzure, "az", up.URL, "gpt-4.1")
		e := newEnv(t, envConfig{channels: []*model.Channel{ch}})
		w := e.do("POST", "/v1/responses", `{"model":"gpt-4.1","input":"hi"}`)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		got := up.last(t)
		if got.Path != "/openai/v1/responses" || got.RawQuery != "" || got.Header.Get("api-key") != "ck-az" || got.Header.Get("Authorization") != "" {
			t.Errorf("upstream got %s?%s api-key %q Authorization %q", got.Path, got.RawQuery, got.Header.Get("api-key"), got.Header.Get("Authorization"))
		}
		if want := `{"model":"gpt-41","input":"hi"}`; got.Body != want {
			t.Errorf("upstream body %s, want the deployment %s", got.Body, want)
		}
		w = e.do("GET", "/v1/responses/resp_az", "")
		if w.Code != http.StatusOK || up.last(t).Path != "/openai/v1/responses/resp_az" {
			t.Errorf("retrieve: %d, upstream path %s", w.Code, up.last(t).Path)
		}
	})

	t.Run("background refused", func(t *testing.T) {
		up := newFake(t, answerJSON(1, 1))
		e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-4o")}})
		w := e.do("POST", "/v1/responses", `{"model":"gpt-4o","input":"hi","background":true}`)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "background") || up.hits.Load() != 0 {
			t.Errorf("got %d %s, want 400 before upstream", w.Code, w.Body)
		}
	})

	t.Run("model allow-list", func(t *testing.T) {
		up := newFake(t, answerJSON(1, 1))
		e := newEnv(t, envConfig{models: "gpt-4o-mini", channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-4o")}})
		w := e.do("POST", "/v1/responses", `{"model":"gpt-4o","input":"hi"}`)
		if w.Code != http.StatusForbidden || up.hits.Load() != 0 {
			t.Errorf("got %d %s, want 403", w.Code, w.Body)
		}
	})

	t.Run("unknown id", func(t *testing.T) {
		e := newEnv(t, envConfig{})
		w := e.do("GET", "/v1/responses/resp_nope", "")
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"code":"response_not_found"`) {
			t.Errorf("got %d %s, want an OpenAI-format 404", w.Code, w.Body)
		}
	})
}

// TestResponsesRetryAndContinuation: a 5xx before the first byte moves to
// another capable channel (one log, one charge), and a request continuing a
// response goes back to the channel that stored it.
func TestResponsesRetryAndContinuation(t *testing.T) {
	bad := newFake(t, answerStatus(http.StatusInternalServerError, "boom"))
	good := responsesUpstream(t)
	e := newEnv(t, envConfig{
		channels: []*model.Channel{channel(model.ChannelOpenAI, "bad", bad.URL, "gpt-4o"), channel(model.ChannelOpenAI, "good", good.URL, "gpt-4o")},
		rand:     func(int) int { return 0 }, // the first untried channel by id
		options:  map[string]string{"RetryTimes": "1"},
	})
	w := e.do("POST", "/v1/responses", `{"model":"gpt-4o","input":"hi"}`)
	if w.Code != http.StatusOK || bad.hits.Load() != 1 || good.hits.Load() != 1 {
		t.Fatalf("got %d (bad %d, good %d hits): %s", w.Code, bad.hits.Load(), good.hits.Load(), w.Body)
	}
	// The default pick would be "bad" again; the stored response pins "good".
	w = e.do("POST", "/v1/responses", `{"model":"gpt-4o","input":"more","previous_response_id":"resp_json"}`)
	if w.Code != http.StatusOK || bad.hits.Load() != 1 || good.hits.Load() != 2 {
		t.Errorf("continuation: %d (bad %d, good %d hits)", w.Code, bad.hits.Load(), good.hits.Load())
	}
	logs := e.logs()
	if len(logs) != 2 || logs[0].Quota != 750 || logs[0].ChannelID != 2 || logs[1].ChannelID != 2 {
		t.Errorf("logs = %+v, want two of channel 2", logs)
	}
}

// TestResponsesFallbackAndCut: without usage the tokenizer counts what was
// asked and delivered; a stream cut before response.completed ends with the
// Responses API's error event and bills what was delivered.
func TestResponsesFallbackAndCut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []string
		cut    bool
	}{
		{"no usage", responseEvents("resp_nu", ""), false},
		{"cut", responseEvents("resp_cut", `{"input_tokens":1,"output_tokens":1}`)[:3], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
				w.Header().Set("Content-Type", "text/event-stream")
				for _, e := range tc.events {
					io.WriteString(w, e)
				}
			})
			e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-4o")}})
			w := e.do("POST", "/v1/responses", `{"model":"gpt-4o","input":"Say hello","stream":true}`)
			body := w.Body.String()
			if cutEv := strings.Contains(body, "event: error\ndata: {\"type\":\"error\",\"code\":\"stream_interrupted\""); cutEv != tc.cut {
				t.Errorf("error event sent = %v, want %v:\n%s", cutEv, tc.cut, body)
			}
			logs := e.logs()
			if len(logs) != 1 || logs[0].PromptTokens == 0 || logs[0].CompletionTokens == 0 {
				t.Fatalf("logs = %+v, want one counted by the tokenizer", logs)
			}
			if want := countText("gpt-4o", []byte("Say hello\n")); logs[0].PromptTokens != want {
				t.Errorf("prompt tokens %d, want %d", logs[0].PromptTokens, want)
			}
			delivered := "Hello world"
			if tc.cut {
				delivered = "Hello"
			}
			if want := countText("gpt-4o", []byte(delivered)); logs[0].CompletionTokens != want {
				t.Errorf("completion tokens %d, want %d (%q)", logs[0].CompletionTokens, want, delivered)
			}
		})
	}
}

// TestResponsesStreamUnchanged: the typed events reach the client byte for
// byte, and nothing is added to the request.
func TestResponsesStreamUnchanged(t *testing.T) {
	up := responsesUpstream(t)
	e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-4o")}})
	body := `{"model":"gpt-4o","input":"hi","stream":true}`
	w := e.do("POST", "/v1/responses", body)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	want := strings.Join(responseEvents("resp_stream", `{"input_tokens":30,"input_tokens_details":{"cached_tokens":0},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":42}`), "")
	if g := w.Body.String(); g != want {
		t.Errorf("stream =\n%s\nwant\n%s", g, want)
	}
	if g := up.last(t).Body; g != body {
		t.Errorf("upstream body %s, want the client's %s", g, body)
	}
}

// TestNamedEventRoutesRequestInfo: the Responses and Messages routes tell the
// metrics middleware what chat does (model, channel, stream, tokens, quota).
func TestNamedEventRoutesRequestInfo(t *testing.T) {
	oai, ant := responsesUpstream(t), anthropicUpstream(t)
	e := newEnv(t, envConfig{channels: []*model.Channel{
		channel(model.ChannelOpenAI, "a", oai.URL, "gpt-4o"),
		channel(model.ChannelAnthropic, "c", ant.URL, claude),
	}})
	var info *metrics.RequestInfo
	eng := infoEngine(e, &info)
	for _, tc := range []struct {
		path, body string
		want       metrics.RequestInfo
	}{
		{"/v1/responses", `{"model":"gpt-4o","input":"hi","stream":true}`,
			metrics.RequestInfo{Model: "gpt-4o", ChannelID: 1, Stream: true, PromptTokens: 30, CompletionTokens: 12, Quota: 195}},
		{"/v1/messages", `{"model":"claude-3-5-sonnet-20241022","max_tokens":9,"messages":[]}`,
			metrics.RequestInfo{Model: claude, ChannelID: 2, PromptTokens: 35, CompletionTokens: 30, Quota: 278}},
	} {
		req := httptest.NewRequest("POST", tc.path, strings.NewReader(tc.body))
		req.Header.Set("X-Api-Key", e.key)
		w := httptest.NewRecorder()
		eng.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d %s", tc.path, w.Code, w.Body)
		}
		got := *info
		if got.Upstream <= 0 || (tc.want.Stream && got.TTFT <= 0) {
			t.Errorf("%s: timings %+v", tc.path, got)
		}
		if got.Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1", tc.path, got.Attempts)
		}
		got.Upstream, got.TTFT, got.Attempts = 0, 0, 0
		if got != tc.want {
			t.Errorf("%s: info = %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

// TestResponseOwners: the map stays bounded, forgetting the oldest first.
func TestResponseOwners(t *testing.T) {
	var o responseOwners
	for i := range maxResponseOwners + 10 {
		o.put(fmt.Sprintf("resp_%d", i), responseOwner{channelID: i, userID: 1})
	}
	if n := len(o.m); n != maxResponseOwners {
		t.Errorf("%d entries, want %d", n, maxResponseOwners)
	}
	if _, ok := o.get("resp_9"); ok {
		t.Error("an evicted id is still known")
	}
	if own, ok := o.get("resp_10"); !ok || own.channelID != 10 {
		t.Errorf("resp_10 = %+v %v, want kept", own, ok)
	}
	o.forget("resp_10")
	if _, ok := o.get("resp_10"); ok {
		t.Error("a forgotten id is still known")
	}
}
