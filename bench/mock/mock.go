// Package mock is a cheap OpenAI-compatible upstream for the benchmark: every
// response body is rendered once at start-up so that serving a request costs
// a small JSON decode of the request and a few writes, and the mock is never
// the bottleneck of a measured arm.
package mock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options shape the mock's answers.
type Options struct {
	Latency     time.Duration // before the response headers
	Jitter      time.Duration // uniform extra latency in [0, Jitter)
	BodyBytes   int           // approximate size of a non-stream completion body
	Chunks      int           // content chunks per stream (at most the request's max_tokens); also completion_tokens
	ChunkGap    time.Duration // pause between stream chunks
	FailureRate float64       // fraction of requests answered 500
	// Usage sends the usage chunk of a stream when the request asks for it
	// with stream_options.include_usage; false mimics upstreams that ignore
	// it, so the gateway has to count tokens itself.
	Usage bool
	Model string
}

// PromptTokens is the prompt_tokens every answer reports, so that billing can
// be checked against a fixed number.
const PromptTokens = 10

// DefaultOptions is a ≈1.4 KB non-stream body and a 20-chunk stream.
func DefaultOptions() Options {
	return Options{BodyBytes: 1400, Chunks: 20, ChunkGap: 2 * time.Millisecond, Usage: true, Model: "gpt-3.5-turbo"}
}

// Stats counts what the mock served.
type Stats struct {
	Chat       int64 `json:"chat"`
	Streams    int64 `json:"streams"`
	Embeddings int64 `json:"embeddings"`
	Failures   int64 `json:"failures"`
}

// Server answers /v1/chat/completions, /v1/embeddings, /v1/models and
// GET /mock/stats.
type Server struct {
	opts       Options
	completion []byte   // non-stream body, usage included
	chunks     [][]byte // "data: {...}\n\n" events: role, content..., finish
	// usageChunks[n] is the usage event of a stream of n content chunks
	// (max_tokens may shorten a stream, see stream).
	usageChunks [][]byte
	embedding   []byte
	models      []byte
	failure     []byte
	bufs        sync.Pool

	chat, streams, embeddings, failures atomic.Int64
}

// New renders every body once.
func New(opts Options) (*Server, error) {
	if opts.Chunks < 1 {
		return nil, fmt.Errorf("mock: chunks %d: need at least 1", opts.Chunks)
	}
	if opts.FailureRate < 0 || opts.FailureRate > 1 {
		return nil, fmt.Errorf("mock: failure rate %v: want 0..1", opts.FailureRate)
	}
	if opts.Model == "" {
		opts.Model = "gpt-3.5-turbo"
	}
	s := &Server{opts: opts}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	usage := usageJSON(opts.Chunks)
	var err error
	if s.completion, err = renderCompletion(opts, usage); err != nil {
		return nil, err
	}
	if s.chunks, err = renderChunks(opts); err != nil {
		return nil, err
	}
	s.usageChunks = make([][]byte, opts.Chunks+1)
	for n := 1; n <= opts.Chunks; n++ {
		if s.usageChunks[n], err = event(chunkJSON(opts.Model, nil, usageJSON(n))); err != nil {
			return nil, err
		}
	}
	if s.embedding, err = renderEmbedding(opts.Model); err != nil {
		return nil, err
	}
	if s.models, err = json.Marshal(map[string]any{"object": "list", "data": []any{
		map[string]any{"id": opts.Model, "object": "model", "created": 1700000000, "owned_by": "openai"},
	}}); err != nil {
		return nil, fmt.Errorf("mock: render models: %w", err)
	}
	s.failure = []byte(`{"error":{"message":"mock failure","type":"server_error","param":"","code":"mock_failure"}}`)
	return s, nil
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{Chat: s.chat.Load(), Streams: s.streams.Load(), Embeddings: s.embeddings.Load(), Failures: s.failures.Load()}
}

// CompletionBody is the pre-rendered non-stream body (for tests and sizing).
func (s *Server) CompletionBody() []byte { return s.completion }

// ServeHTTP routes the few paths the mock knows.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1/chat/completions" && r.Method == http.MethodPost:
		s.serveChat(w, r)
	case r.URL.Path == "/v1/embeddings" && r.Method == http.MethodPost:
		s.embeddings.Add(1)
		if s.wait(w, r) {
			writeJSON(w, s.embedding)
		}
	case r.URL.Path == "/v1/models" && r.Method == http.MethodGet:
		writeJSON(w, s.models)
	case r.URL.Path == "/mock/stats" && r.Method == http.MethodGet:
		b, _ := json.Marshal(s.Stats())
		writeJSON(w, b)
	default:
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
	}
}

// chatRequest is the only part of a request the mock looks at.
type chatRequest struct {
	Stream        bool `json:"stream"`
	MaxTokens     int  `json:"max_tokens"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (s *Server) serveChat(w http.ResponseWriter, r *http.Request) {
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer s.bufs.Put(buf)
	if _, err := buf.ReadFrom(r.Body); err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var req chatRequest
	if err := json.Unmarshal(buf.Bytes(), &req); err != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	s.chat.Add(1)
	if !s.wait(w, r) {
		return
	}
	if !req.Stream {
		writeJSON(w, s.completion)
		return
	}
	s.streams.Add(1)
	n := s.opts.Chunks
	if req.MaxTokens > 0 {
		n = min(n, req.MaxTokens)
	}
	s.stream(w, r, n, req.StreamOptions != nil && req.StreamOptions.IncludeUsage && s.opts.Usage)
}

// wait applies latency and the failure rate; false means the request was
// already answered (failure) or abandoned by the client.
func (s *Server) wait(w http.ResponseWriter, r *http.Request) bool {
	d := s.opts.Latency
	if s.opts.Jitter > 0 {
		d += rand.N(s.opts.Jitter)
	}
	if d > 0 && !sleep(r, d) {
		return false
	}
	if s.opts.FailureRate > 0 && rand.Float64() < s.opts.FailureRate {
		s.failures.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(s.failure)
		return false
	}
	return true
}

// stream sends the role chunk, n content chunks (max_tokens caps a stream
// as it caps an upstream's answer, so the benchmark's stream step can ask
// for a short one: its time to first token needs only the first chunks),
// the finish chunk and, if asked for, the usage chunk.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, n int, usage bool) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	events := append(s.chunks[:1+n:1+n], s.chunks[len(s.chunks)-1])
	for i, c := range events {
		// The first content chunk follows the role chunk at once, as real
		// upstreams do; the gap sits between content chunks.
		if i > 1 && s.opts.ChunkGap > 0 && !sleep(r, s.opts.ChunkGap) {
			return
		}
		if _, err := w.Write(c); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	if usage {
		_, _ = w.Write(s.usageChunks[n])
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func writeJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func usageJSON(completion int) map[string]int {
	return map[string]int{"prompt_tokens": PromptTokens, "completion_tokens": completion, "total_tokens": PromptTokens + completion}
}

func renderCompletion(opts Options, usage map[string]int) ([]byte, error) {
	render := func(content string) ([]byte, error) {
		return json.Marshal(map[string]any{
			"id": "chatcmpl-mock", "object": "chat.completion", "created": 1700000000, "model": opts.Model,
			"choices": []any{map[string]any{
				"index": 0, "message": map[string]any{"role": "assistant", "content": content},
				"logprobs": nil, "finish_reason": "stop",
			}},
			"usage": usage, "system_fingerprint": "fp_mock",
		})
	}
	base, err := render("")
	if err != nil {
		return nil, fmt.Errorf("mock: render completion: %w", err)
	}
	pad := max(opts.BodyBytes-len(base), 1)
	b, err := render(filler(pad))
	if err != nil {
		return nil, fmt.Errorf("mock: render completion: %w", err)
	}
	return b, nil
}

func renderChunks(opts Options) ([][]byte, error) {
	out := make([][]byte, 0, opts.Chunks+2)
	role, err := event(chunkJSON(opts.Model, map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": ""}, "finish_reason": nil}, nil))
	if err != nil {
		return nil, err
	}
	out = append(out, role)
	for i := range opts.Chunks {
		e, err := event(chunkJSON(opts.Model, map[string]any{"index": 0, "delta": map[string]any{"content": fmt.Sprintf("tok%d ", i)}, "finish_reason": nil}, nil))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	fin, err := event(chunkJSON(opts.Model, map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": "stop"}, nil))
	if err != nil {
		return nil, err
	}
	return append(out, fin), nil
}

// chunkJSON is a chat.completion.chunk; a nil choice with usage set is the
// final usage chunk, whose choices array is empty as OpenAI sends it.
func chunkJSON(model string, choice map[string]any, usage map[string]int) map[string]any {
	choices := []any{}
	if choice != nil {
		choices = append(choices, choice)
	}
	m := map[string]any{"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1700000000, "model": model, "choices": choices}
	if usage != nil {
		m["usage"] = usage
	}
	return m
}

func event(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("mock: render chunk: %w", err)
	}
	return append(append([]byte("data: "), b...), '\n', '\n'), nil
}

func renderEmbedding(model string) ([]byte, error) {
	vec := make([]float64, 256)
	for i := range vec {
		vec[i] = float64(i%17) / 17
	}
	b, err := json.Marshal(map[string]any{
		"object": "list", "model": model,
		"data":  []any{map[string]any{"object": "embedding", "index": 0, "embedding": vec}},
		"usage": map[string]int{"prompt_tokens": PromptTokens, "total_tokens": PromptTokens},
	})
	if err != nil {
		return nil, fmt.Errorf("mock: render embedding: %w", err)
	}
	return b, nil
}

func filler(n int) string {
	const words = "lorem ipsum dolor sit amet consectetur adipiscing elit "
	return strings.Repeat(words, n/len(words)+1)[:n]
}
