package bareproxy

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestProxiesBodyAndHeaders(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g, w2 := r.Header.Get("Authorization"), "Bearer sk-x"; g != w2 {
			t.Errorf("upstream Authorization = %q, want %q", g, w2)
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Up", "1")
		_, _ = w.Write(append([]byte(r.URL.Path+":"), body...))
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)
	px := httptest.NewServer(New(target, Transport()))
	defer px.Close()

	req, _ := http.NewRequest(http.MethodPost, px.URL+"/v1/chat/completions", strings.NewReader("hello"))
	req.Header.Set("Authorization", "Bearer sk-x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("do: %v", err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if g, w := string(got), "/v1/chat/completions:hello"; g != w {
		t.Errorf("body = %q, want %q", g, w)
	}
	if g, w := resp.Header.Get("X-Up"), "1"; g != w {
		t.Errorf("X-Up = %q, want %q", g, w)
	}
}

// TestStreamsWithoutBuffering checks that the first event reaches the client
// while the upstream is still holding the response open.
func TestStreamsWithoutBuffering(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)
	px := httptest.NewServer(New(target, Transport()))
	defer px.Close()

	resp, err := http.Get(px.URL + "/stream")
	if err != nil {
		close(release)
		t.Fatalf("get: %v", err)
	}
	defer resp.Body.Close()
	first := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		first <- line
	}()
	select {
	case line := <-first:
		if g, w := line, "data: first\n"; g != w {
			t.Errorf("first line = %q, want %q", g, w)
		}
	case <-time.After(10 * time.Second):
		t.Error("first event held back by the proxy")
	}
	close(release)
}

func TestBufferPoolReuses(t *testing.T) {
	bp := newBufferPool()
	b := bp.Get()
	if g, w := len(b), 32<<10; g != w {
		t.Fatalf("len = %d, want %d", g, w)
	}
	bp.Put(b[:10])
	if g, w := len(bp.Get()), 32<<10; g != w {
		t.Errorf("len after Put of a short slice = %d, want %d", g, w)
	}
}
