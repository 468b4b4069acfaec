package mock

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type chunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func newServer(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	m, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestNonStream(t *testing.T) {
	for _, size := range []int{1400, 10240} {
		opts := DefaultOptions()
		opts.BodyBytes = size
		srv := newServer(t, opts)
		resp := post(t, srv.URL+"/v1/chat/completions", `{"model":"gpt-3.5-turbo","messages":[]}`)
		if g, w := resp.StatusCode, 200; g != w {
			t.Fatalf("status = %d, want %d", g, w)
		}
		var body struct {
			Object string `json:"object"`
			Usage  struct {
				PromptTokens     int `json:"prompt_tokens"`
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		raw := new(strings.Builder)
		if err := json.NewDecoder(io.TeeReader(resp.Body, raw)).Decode(&body); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if n := raw.Len(); n < size-8 || n > size+8 {
			t.Errorf("size %d: body is %d bytes", size, n)
		}
		if g, w := body.Usage.PromptTokens, PromptTokens; g != w {
			t.Errorf("prompt_tokens = %d, want %d", g, w)
		}
		if g, w := body.Usage.CompletionTokens, opts.Chunks; g != w {
			t.Errorf("completion_tokens = %d, want %d", g, w)
		}
		if g, w := body.Object, "chat.completion"; g != w {
			t.Errorf("object = %q, want %q", g, w)
		}
	}
}

func TestStream(t *testing.T) {
	tests := []struct {
		name      string
		usageOpt  bool
		body      string
		wantUsage bool
		chunks    int // content chunks (and completion_tokens) expected
	}{
		{"include_usage", true, `{"stream":true,"stream_options":{"include_usage":true}}`, true, 5},
		{"not asked", true, `{"stream": true}`, false, 5},
		{"upstream ignores it", false, `{"stream":true,"stream_options":{"include_usage":true}}`, false, 5},
		{"max_tokens shortens it", true, `{"stream":true,"max_tokens":2,"stream_options":{"include_usage":true}}`, true, 2},
		{"max_tokens above chunks", true, `{"stream":true,"max_tokens":64,"stream_options":{"include_usage":true}}`, true, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Chunks, opts.ChunkGap, opts.Usage = 5, 0, tt.usageOpt
			srv := newServer(t, opts)
			resp := post(t, srv.URL+"/v1/chat/completions", tt.body)
			if g, w := resp.Header.Get("Content-Type"), "text/event-stream"; g != w {
				t.Fatalf("content-type = %q, want %q", g, w)
			}
			var events []string
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					events = append(events, line)
				}
			}
			if g, w := events[len(events)-1], "[DONE]"; g != w {
				t.Fatalf("last event = %q, want %q", g, w)
			}
			var content strings.Builder
			var usage *chunk
			for _, e := range events[:len(events)-1] {
				var c chunk
				if err := json.Unmarshal([]byte(e), &c); err != nil {
					t.Fatalf("chunk %q: %v", e, err)
				}
				if c.Usage != nil {
					if len(c.Choices) != 0 {
						t.Errorf("usage chunk has %d choices, want 0", len(c.Choices))
					}
					usage = &c
					continue
				}
				for _, ch := range c.Choices {
					content.WriteString(ch.Delta.Content)
				}
			}
			if g, w := strings.Count(content.String(), "tok"), tt.chunks; g != w {
				t.Errorf("content chunks = %d, want %d", g, w)
			}
			if g, w := usage != nil, tt.wantUsage; g != w {
				t.Fatalf("usage chunk present = %v, want %v", g, w)
			}
			if usage != nil && usage.Usage.CompletionTokens != tt.chunks {
				t.Errorf("completion_tokens = %d, want %d", usage.Usage.CompletionTokens, tt.chunks)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	opts := DefaultOptions()
	failing := opts
	failing.FailureRate = 1
	tests := []struct {
		name   string
		opts   Options
		method string
		path   string
		want   int
	}{
		{"models", opts, http.MethodGet, "/v1/models", 200},
		{"embeddings", opts, http.MethodPost, "/v1/embeddings", 200},
		{"unknown", opts, http.MethodGet, "/v1/nothing", 404},
		{"failure", failing, http.MethodPost, "/v1/chat/completions", 500},
		{"stats", opts, http.MethodGet, "/mock/stats", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.opts)
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(`{"input":"x"}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("do: %v", err)
			}
			resp.Body.Close()
			if g, w := resp.StatusCode, tt.want; g != w {
				t.Errorf("status = %d, want %d", g, w)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	for _, o := range []Options{{Chunks: 0}, {Chunks: 1, FailureRate: 2}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) = nil error, want one", o)
		}
	}
}

func BenchmarkServeChat(b *testing.B) {
	m, err := New(DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	body := `{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"hi"}]}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		m.ServeHTTP(httptest.NewRecorder(), req)
	}
}
