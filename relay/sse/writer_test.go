package sse

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"one-api/relay/openai"
)

func TestWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	SetHeaders(rec.Header())
	w := NewWriter(rec)
	steps := []struct {
		name string
		send func() error
		want string // body so far
	}{
		{"data", func() error { return w.Data([]byte(`{"a":1}`)) }, "data: {\"a\":1}\n\n"},
		{"multi-line", func() error { return w.Data([]byte("a\n\nb")) }, "data: a\ndata: \ndata: b\n\n"},
		{"named", func() error { return w.Event([]byte("response.completed"), []byte(`{"b":2}`)) }, "event: response.completed\ndata: {\"b\":2}\n\n"},
		{"error", func() error {
			return w.Error(openai.Error{Message: "upstream stream cut", Type: openai.TypeUpstream, Code: "stream_cut"})
		}, `data: {"error":{"message":"upstream stream cut","type":"upstream_error","param":"","code":"stream_cut"}}` + "\n\n"},
		{"done", w.Done, "data: [DONE]\n\n"},
	}
	sent := ""
	for _, s := range steps {
		rec.Flushed = false
		if err := s.send(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		sent += s.want
		if g := rec.Body.String(); g != sent {
			t.Fatalf("%s: body = %q, want %q", s.name, g, sent)
		}
		if !rec.Flushed {
			t.Errorf("%s: not flushed", s.name)
		}
	}
	for k, v := range map[string]string{"Content-Type": "text/event-stream", "X-Accel-Buffering": "no", "Cache-Control": "no-cache"} {
		if g := rec.Header().Get(k); g != v {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}
}

// TestRoundTrip checks that what Writer sends, Reader reads back.
func TestRoundTrip(t *testing.T) {
	payloads := []string{`{"x":"y"}`, "two\nlines", "", "[DONE]"}
	rec := httptest.NewRecorder()
	w := NewWriter(rec)
	for _, p := range payloads {
		if err := w.Data([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readAll(NewReader(strings.NewReader(rec.Body.String())))
	if err != io.EOF || len(got) != len(payloads) {
		t.Fatalf("got %v, %v", got, err)
	}
	for i, p := range payloads {
		if got[i].data != p {
			t.Errorf("event %d = %q, want %q", i, got[i].data, p)
		}
	}
}

type brokenWriter struct{ http.ResponseWriter }

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("client gone") }

type noFlushWriter struct{ h http.Header }

func (w noFlushWriter) Header() http.Header       { return w.h }
func (noFlushWriter) Write(p []byte) (int, error) { return len(p), nil }
func (noFlushWriter) WriteHeader(int)             {}

func TestWriterErrors(t *testing.T) {
	if err := NewWriter(brokenWriter{httptest.NewRecorder()}).Data([]byte("x")); err == nil {
		t.Error("write to a gone client: no error")
	}
	err := NewWriter(noFlushWriter{http.Header{}}).Data([]byte("x"))
	if !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("no flusher: err = %v, want http.ErrNotSupported", err)
	}
}

func BenchmarkWriter(b *testing.B) {
	payload := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello"}}]}`)
	w := NewWriter(discardFlusher{})
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Data(payload); err != nil {
			b.Fatal(err)
		}
	}
}

type discardFlusher struct{}

func (discardFlusher) Header() http.Header         { return http.Header{} }
func (discardFlusher) Write(p []byte) (int, error) { return len(p), nil }
func (discardFlusher) WriteHeader(int)             {}
func (discardFlusher) Flush()                      {}
