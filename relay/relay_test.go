package relay

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"one-api/model"
	"one-api/relay/openai"
	"one-api/relay/tokenizer"
)

func TestChatNonStream(t *testing.T) {
	up := newFake(t, answerJSON(10, 20))
	e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo")}})
	body := `{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"hi"}]}`
	w := e.do("POST", "/v1/chat/completions", body)
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	if g, want := w.Body.String(), fmt.Sprintf(chatAnswer, 10, 20, 30); g != want {
		t.Errorf("body = %s, want upstream's %s", g, want)
	}
	if g := w.Header().Get("X-Upstream"); g != "yes" {
		t.Errorf("X-Upstream = %q, want the upstream header passed on", g)
	}
	got := up.last(t)
	if got.Body != body {
		t.Errorf("upstream body = %s, want the client's bytes %s", got.Body, body)
	}
	if got.Path != "/v1/chat/completions" || got.Header.Get("Authorization") != "Bearer ck-a" {
		t.Errorf("upstream got %s with Authorization %q", got.Path, got.Header.Get("Authorization"))
	}
	if got.ContentLength != int64(len(body)) || len(got.TransferEncoding) != 0 {
		t.Errorf("upstream Content-Length = %d, Transfer-Encoding %v; want %d, none", got.ContentLength, got.TransferEncoding, len(body))
	}
	// gpt-3.5-turbo: ratio 0.25, completion ratio 3: ceil((10 + 20×3) × 0.25) = 18.
	const quota = 18
	b := e.balances(1)
	if want := (balances{UserQuota: 1e9 - quota, UserUsed: quota, TokenRemain: 1e9 - quota, TokenUsed: quota, ChannelUsed: quota, Requests: 1}); b != want {
		t.Errorf("balances = %+v, want %+v", b, want)
	}
	logs := e.logs()
	if len(logs) != 1 {
		t.Fatalf("%d consume logs, want 1", len(logs))
	}
	l := logs[0]
	if l.Quota != quota || l.PromptTokens != 10 || l.CompletionTokens != 20 || l.ModelName != "gpt-3.5-turbo" ||
		l.ChannelID != 1 || l.TokenName != "test-token" || l.Username != "alice" || l.UserID != e.userID || l.IsStream ||
		l.RequestID != w.Header().Get("X-Oneapi-Request-Id") || l.RequestID == "" {
		t.Errorf("log = %+v", l)
	}
	if want := "model ratio 0.25, group ratio 1.00, completion ratio 3.00"; l.Content != want {
		t.Errorf("log content = %q, want %q", l.Content, want)
	}
}

func TestChatStream(t *testing.T) {
	for _, tc := range []struct {
		name      string
		body      string
		wantUsage bool
	}{
		{"usage added and stripped", `{"model":"gpt-3.5-turbo","stream":true,"messages":[{"role":"user","content":"hi"}]}`, false},
		{"usage asked for", `{"model":"gpt-3.5-turbo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFake(t, answerStream(10, 20))
			e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo")}})
			w := e.do("POST", "/v1/chat/completions", tc.body)
			if w.Code != http.StatusOK {
				t.Fatalf("status = %d, body %s", w.Code, w.Body)
			}
			if g := w.Header().Get("Content-Type"); g != "text/event-stream" {
				t.Errorf("Content-Type = %q", g)
			}
			if g := w.Header().Get("X-Accel-Buffering"); g != "no" {
				t.Errorf("X-Accel-Buffering = %q, want no", g)
			}
			if !strings.Contains(up.last(t).Body, `"include_usage":true`) {
				t.Errorf("upstream body %s does not ask for usage", up.last(t).Body)
			}
			want := []string{chunk("Hel"), chunk("lo"), chunk(" world")}
			if tc.wantUsage {
				want = append(want, usageChunk(10, 20))
			}
			want = append(want, "[DONE]")
			if g := sseData(w.Body.String()); strings.Join(g, "\n") != strings.Join(want, "\n") {
				t.Errorf("events =\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
			}
			logs := e.logs()
			if len(logs) != 1 || logs[0].Quota != 18 || !logs[0].IsStream || logs[0].CompletionTokens != 20 {
				t.Errorf("logs = %+v, want one stream log of 18 units", logs)
			}
		})
	}
}

func TestCompletionsAndEmbeddings(t *testing.T) {
	for _, tc := range []struct {
		name, path, body, answer string
		quota                    int
	}{
		{
			// gpt-3.5-turbo-instruct: 0.75 / 1.33 → ceil((5 + 7×1.33) × 0.75) = ceil(10.7325) = 11.
			"completions", "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi"}`,
			`{"id":"cmpl-1","object":"text_completion","choices":[{"text":"hi","index":0}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`, 11,
		},
		{
			// text-embedding-3-small: 0.01 → ceil(1000 × 0.01) = 10.
			"embeddings", "/v1/embeddings", `{"model":"text-embedding-3-small","input":"some text"}`,
			`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":1000,"total_tokens":1000}}`, 10,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.Write([]byte(tc.answer)) })
			e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo-instruct,text-embedding-3-small")}})
			w := e.do("POST", tc.path, tc.body)
			if w.Code != http.StatusOK || w.Body.String() != tc.answer {
				t.Fatalf("status = %d, body %s", w.Code, w.Body)
			}
			if g := up.last(t); g.Path != tc.path || g.Body != tc.body {
				t.Errorf("upstream got %s %s", g.Path, g.Body)
			}
			if logs := e.logs(); len(logs) != 1 || logs[0].Quota != tc.quota {
				t.Errorf("logs = %+v, want one of %d units", logs, tc.quota)
			}
		})
	}
}

func TestModelsList(t *testing.T) {
	up := newFake(t, answerJSON(1, 1))
	channels := func() []*model.Channel {
		vip := channel(model.ChannelOpenAI, "vip", up.URL, "o1")
		vip.Group = "vip"
		return []*model.Channel{
			channel(model.ChannelOpenAI, "a", up.URL, "gpt-4o,gpt-3.5-turbo"),
			channel(model.ChannelAzure, "b", up.URL, "gpt-4o-mini,text-embedding-3-small"),
			vip,
		}
	}
	for _, tc := range []struct {
		name, allow string
		want        []string
	}{
		{"no allow-list", "", []string{"gpt-3.5-turbo", "gpt-4o", "gpt-4o-mini", "text-embedding-3-small"}},
		{"allow-list", "gpt-4o-mini,gpt-4o,o1", []string{"gpt-4o", "gpt-4o-mini"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{channels: channels(), models: tc.allow})
			w := e.do("GET", "/v1/models", "")
			var list ModelList
			if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || w.Code != 200 || list.Object != "list" {
				t.Fatalf("status %d, body %s: %v", w.Code, w.Body, err)
			}
			var got []string
			for _, m := range list.Data {
				got = append(got, m.ID)
				if m.Object != "model" || m.OwnedBy == "" || m.Created == 0 {
					t.Errorf("model %+v: incomplete", m)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("models = %v, want %v", got, tc.want)
			}
			w = e.do("GET", "/v1/models/gpt-4o", "")
			if w.Code != 200 || !strings.Contains(w.Body.String(), `"id":"gpt-4o"`) {
				t.Errorf("GET /v1/models/gpt-4o = %d %s", w.Code, w.Body)
			}
			w = e.do("GET", "/v1/models/o1", "")
			if w.Code != 404 || !strings.Contains(w.Body.String(), "model_not_found") {
				t.Errorf("GET /v1/models/o1 (other group) = %d %s, want 404", w.Code, w.Body)
			}
			if up.hits.Load() != 0 {
				t.Errorf("listing models called upstream")
			}
		})
	}
}

func TestModelMapping(t *testing.T) {
	up := newFake(t, answerJSON(100, 100))
	ch := channel(model.ChannelOpenAICompatible, "a", up.URL+"/", "gpt-4")
	mapping := `{"gpt-4":"gpt-3.5-turbo"}`
	ch.ModelMapping = &mapping
	e := newEnv(t, envConfig{channels: []*model.Channel{ch}})
	w := e.do("POST", "/v1/chat/completions", `{"model":"gpt-4","messages":[{"role":"user","content":"hi"}],"temperature":0.5}`)
	if w.Code != 200 {
		t.Fatalf("status = %d, %s", w.Code, w.Body)
	}
	got := up.last(t)
	if want := `{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"hi"}],"temperature":0.5}`; got.Body != want {
		t.Errorf("upstream body = %s, want %s", got.Body, want)
	}
	if got.Path != "/v1/chat/completions" {
		t.Errorf("path = %s (trailing slash of base_url not trimmed?)", got.Path)
	}
	logs := e.logs()
	// Priced as the model actually used (one-api's rule): gpt-3.5-turbo
	// 0.25 / 3 → (100 + 300) × 0.25 = 100, not gpt-4's 15 / 2; logged
	// under the client's name.
	if len(logs) != 1 || logs[0].ModelName != "gpt-4" || logs[0].Quota != 100 {
		t.Errorf("logs = %+v, want one for gpt-4 of 100 units", logs)
	}
}

func TestAzure(t *testing.T) {
	for _, tc := range []struct {
		name, config, version string
	}{
		{"default api-version", "", defaultAzureAPIVersion},
		{"configured api-version", `{"api_version":"2024-10-21"}`, "2024-10-21"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFake(t, answerJSON(1, 1))
			ch := channel(model.ChannelAzure, "az", up.URL, "gpt-3.5-turbo")
			ch.Config = tc.config
			e := newEnv(t, envConfig{channels: []*model.Channel{ch}})
			if w := e.do("POST", "/v1/chat/completions", `{"model":"gpt-3.5-turbo","messages":[]}`); w.Code != 200 {
				t.Fatalf("status = %d, %s", w.Code, w.Body)
			}
			got := up.last(t)
			if got.Path != "/openai/deployments/gpt-35-turbo/chat/completions" || got.RawQuery != "api-version="+tc.version {
				t.Errorf("upstream URL = %s?%s", got.Path, got.RawQuery)
			}
			if got.Header.Get("api-key") != "ck-az" || got.Header.Get("Authorization") != "" {
				t.Errorf("api-key = %q, Authorization = %q", got.Header.Get("api-key"), got.Header.Get("Authorization"))
			}
		})
	}
}

// TestStreamCut: the upstream dies after two chunks. The client gets them,
// then an error event and no [DONE]; the quota covers the prompt and the
// delivered text only.
func TestStreamCut(t *testing.T) {
	up := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range streamChunks[:2] {
			fmt.Fprintf(w, "data: %s\n\n", chunk(c))
		}
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo")},
		options: map[string]string{"RetryTimes": "3"}})
	body := `{"model":"gpt-3.5-turbo","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	w := e.do("POST", "/v1/chat/completions", body)
	events := sseData(w.Body.String())
	if len(events) != 3 || events[0] != chunk("Hel") || events[1] != chunk("lo") {
		t.Fatalf("events = %q, want two chunks and an error", events)
	}
	var ev openai.ErrorResponse
	if err := json.Unmarshal([]byte(events[2]), &ev); err != nil || ev.Error.Type != openai.TypeUpstream || !strings.Contains(ev.Error.Message, "request id") {
		t.Errorf("last event = %s, want an upstream_error with the request id", events[2])
	}
	if up.hits.Load() != 1 {
		t.Errorf("upstream called %d times: retried after streaming began", up.hits.Load())
	}
	msgs, _ := openai.ParseMessages(json.RawMessage(`[{"role":"user","content":"hi"}]`))
	prompt := tokenizer.CountMessages("gpt-3.5-turbo", msgs)
	completion := tokenizer.CountText("gpt-3.5-turbo", "Hello")
	logs := e.logs()
	want := int(ceilQuota(prompt, completion, 0.25, 3))
	if len(logs) != 1 || logs[0].Quota != want || logs[0].PromptTokens != prompt || logs[0].CompletionTokens != completion {
		t.Errorf("logs = %+v, want one of %d units (%d + %d tokens)", logs, want, prompt, completion)
	}
	if b := e.balances(1); b.UserUsed != int64(want) || b.UserQuota != 1e9-int64(want) {
		t.Errorf("balances = %+v, want %d charged", b, want)
	}
}

// ceilQuota is one-api's formula for a test's expectations.
func ceilQuota(prompt, completion int, ratio, completionRatio float64) int64 {
	q := (float64(prompt) + float64(completion)*completionRatio) * ratio
	n := int64(q)
	if float64(n) < q {
		n++
	}
	return n
}
