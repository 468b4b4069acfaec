package relay

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// seen is one request as a fake upstream received it.
type seen struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
	ContentLength          int64
	TransferEncoding       []string
}

// fake is an httptest upstream that records what it is sent.
type fake struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	reqs []seen
}

func newFake(t testing.TB, h func(w http.ResponseWriter, r *http.Request, body []byte)) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.hits.Add(1)
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(),
			Body: string(body), ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding})
		f.mu.Unlock()
		h(w, r, body)
	}))
	t.Cleanup(f.Close)
	return f
}

// last returns the last request received.
func (f *fake) last(t testing.TB) seen {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("upstream was not called")
	}
	return f.reqs[len(f.reqs)-1]
}

const chatAnswer = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-3.5-turbo","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`

// answerJSON answers every request with a chat completion reporting usage.
func answerJSON(prompt, completion int) func(http.ResponseWriter, *http.Request, []byte) {
	body := fmt.Sprintf(chatAnswer, prompt, completion, prompt+completion)
	return func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "yes")
		io.WriteString(w, body)
	}
}

// answerStatus answers every request with status and an OpenAI error.
func answerStatus(status int, code string) func(http.ResponseWriter, *http.Request, []byte) {
	return func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":"upstream says %d","type":"server_error","param":null,"code":%q}}`, status, code)
	}
}

// streamChunks are the content pieces answerStream sends.
var streamChunks = []string{"Hel", "lo", " world"}

func chunk(content string) string {
	return fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-3.5-turbo","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, content)
}

func usageChunk(prompt, completion int) string {
	return fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-3.5-turbo","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, prompt, completion, prompt+completion)
}

// answerStream streams streamChunks, then a usage chunk when the request
// asked for one, then [DONE].
func answerStream(prompt, completion int) func(http.ResponseWriter, *http.Request, []byte) {
	return func(w http.ResponseWriter, _ *http.Request, body []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for _, c := range streamChunks {
			fmt.Fprintf(w, "data: %s\n\n", chunk(c))
			fl.Flush()
		}
		if strings.Contains(string(body), `"include_usage":true`) {
			fmt.Fprintf(w, "data: %s\n\n", usageChunk(prompt, completion))
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}
}

// sseData returns the data payloads of an event stream body.
func sseData(body string) []string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}
