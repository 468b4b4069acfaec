// Package hostile is a test upstream that misbehaves on command, for the
// fault suite (relay) and the soak (main): status codes, HTML, resets,
// stalls, cuts mid-stream, giant lines, missing usage.
package hostile

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a test upstream that misbehaves on command. The command is the
// content of the request's last message, "fault:<name>[:<arg>]"; anything
// else gets a well-behaved answer. The same server thus serves every case
// of the fault suite and the soak, whose clients pick a fault per request.
//
//	ok            a correct answer with usage (stream or not)
//	no-usage      a correct answer without usage: the gateway counts
//	status:N      status N with an OpenAI error body
//	key-leak      401 quoting the channel's key, as OpenAI's "Incorrect API key provided"
//	html          200 with an HTML page
//	huge:N        200 with a JSON answer of N bytes (no usage)
//	reset         the connection closed before any answer
//	stall         headers and one event (stream) or nothing (non-stream), then silence until cancelled
//	cut-headers   stream: 200 and headers, then the connection cut
//	cut-mid       stream: two content events, then the connection cut
//	giant         stream: one event carrying N (default 1 MiB) bytes of "x", no usage, [DONE]
//	malformed     stream: garbage lines and a non-JSON data event among good ones
//	slow:N        stream: N events 100 ms apart, then usage and [DONE]
//	error-event   stream: an error object as data quoting the key, then [DONE]
type Server struct {
	*httptest.Server
	// Force, when set before the first request, is the fault of every
	// request whatever it says (a channel that always fails).
	Force string
}

// New starts a Server, closed when tb ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	h := &Server{}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	tb.Cleanup(h.Close)
	return h
}

// Body is a chat request for gpt-3.5-turbo whose last message commands fault.
func Body(fault string, stream bool) string {
	return fmt.Sprintf(`{"model":"gpt-3.5-turbo","stream":%t,"messages":[{"role":"user","content":%q}]}`, stream, "fault:"+fault)
}

func (h *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s := string(body)
	stream := strings.Contains(s, `"stream":true`)
	fault, arg := "ok", ""
	if i := strings.LastIndex(s, `"fault:`); i >= 0 {
		cmd := s[i+len(`"fault:`):]
		cmd = cmd[:strings.IndexByte(cmd, '"')]
		fault, arg, _ = strings.Cut(cmd, ":")
	}
	if h.Force != "" {
		fault, arg, _ = strings.Cut(h.Force, ":")
	}
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	n, _ := strconv.Atoi(arg)
	fl := w.(http.Flusher)
	sse := func(data string) {
		fmt.Fprintf(w, "data: %s\n\n", data)
		fl.Flush()
	}
	startStream := func() {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		fl.Flush()
	}
	switch fault {
	case "ok", "no-usage":
		if !stream {
			w.Header().Set("Content-Type", "application/json")
			if fault == "ok" {
				io.WriteString(w, Completion)
				return
			}
			io.WriteString(w, `{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}]}`)
			return
		}
		startStream()
		for _, c := range []string{"Hel", "lo", " world"} {
			sse(streamChunk(c))
		}
		if fault == "ok" {
			sse(streamUsage(10, 20))
		}
		sse("[DONE]")
	case "status":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(n)
		fmt.Fprintf(w, `{"error":{"message":"upstream says %d","type":"server_error","param":null,"code":null}}`, n)
	case "key-leak":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s. Also tried sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 and AIzaSyA1234567890abcdefghijklmnopqrstu.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, key)
	case "html":
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body><h1>Welcome to nginx!</h1></body></html>")
	case "huge":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"`)
		io.WriteString(w, strings.Repeat("x", n))
		io.WriteString(w, `"},"finish_reason":"stop"}]}`)
	case "reset":
		panic(http.ErrAbortHandler)
	case "stall":
		if stream {
			startStream()
			sse(streamChunk("Hel"))
		}
		<-r.Context().Done()
	case "cut-headers":
		startStream()
		panic(http.ErrAbortHandler)
	case "cut-mid":
		startStream()
		sse(streamChunk("Hel"))
		sse(streamChunk("lo"))
		panic(http.ErrAbortHandler)
	case "giant":
		if n == 0 {
			n = 1 << 20
		}
		startStream()
		sse(streamChunk(strings.Repeat("x", n)))
		sse("[DONE]")
	case "malformed":
		startStream()
		sse(streamChunk("Hel"))
		io.WriteString(w, "this is not a field\nid: 7\nretry: 10\n: comment\n\n")
		sse(`{"half": `)
		sse(`{"choices":[],"usage":{"prompt_tokens":-100000,"completion_tokens":-5}}`)
		sse(streamChunk("lo"))
		sse("[DONE]")
	case "slow":
		startStream()
		for i := range n {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			sse(streamChunk(strconv.Itoa(i % 10)))
		}
		sse(streamUsage(10, n))
		sse("[DONE]")
	case "error-event":
		startStream()
		sse(fmt.Sprintf(`{"error":{"message":"quota of key %s exceeded","type":"insufficient_quota","param":null,"code":null}}`, key))
		sse("[DONE]")
	default:
		http.Error(w, "unknown fault "+fault, http.StatusTeapot)
	}
}

// Completion is the non-stream "ok" answer: 10 prompt and 20 completion
// tokens, 18 units for gpt-3.5-turbo in the default group.
const Completion = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-3.5-turbo",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}`

func streamChunk(content string) string {
	return fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-3.5-turbo","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, content)
}

func streamUsage(prompt, completion int) string {
	return fmt.Sprintf(`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-3.5-turbo","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, prompt, completion, prompt+completion)
}
