package common

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// defaultHTTPConfig is the transport configuration with every HTTP_* unset.
func defaultHTTPConfig(t *testing.T) HTTPConfig {
	t.Helper()
	cfg, err := LoadConfig(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.HTTP
}

// countingServer counts the TCP connections clients open to it.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func get(ctx context.Context, c *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Drained and closed, the connection goes back to the pool.
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func TestTransportReusesConnections(t *testing.T) {
	tests := []struct {
		name            string
		requests        int
		parallel        bool
		maxConnsPerHost int
		// barrier: the upstream holds every request until this many are in
		// flight at once, so the pool is forced to open that many.
		barrier          int64
		wantMin, wantMax int64
	}{
		{name: "1000 sequential", requests: 1000, wantMin: 1, wantMax: 1},
		{name: "100 concurrent, 10 per host", requests: 100, parallel: true, maxConnsPerHost: 10, barrier: 10, wantMin: 10, wantMax: 10},
		// The control: without the cap the same load opens more than 10.
		{name: "100 concurrent, no cap", requests: 100, parallel: true, barrier: 20, wantMin: 20, wantMax: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var inFlight atomic.Int64
			release := make(chan struct{})
			srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.barrier > 0 {
					if inFlight.Add(1) == tt.barrier {
						close(release)
					}
					select {
					case <-release:
					case <-r.Context().Done():
						return
					}
				}
				io.WriteString(w, "ok")
			}))
			cfg := defaultHTTPConfig(t)
			cfg.MaxConnsPerHost = tt.maxConnsPerHost
			client, err := NewHTTPClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer client.CloseIdleConnections()
			// A safety net so a broken pool fails the test instead of hanging it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			var failed atomic.Int64
			var wg sync.WaitGroup
			for range tt.requests {
				if !tt.parallel {
					if err := get(ctx, client, srv.URL); err != nil {
						t.Fatal(err)
					}
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := get(ctx, client, srv.URL); err != nil {
						failed.Add(1)
					}
				}()
			}
			wg.Wait()
			if n := failed.Load(); n > 0 {
				t.Fatalf("%d of %d requests failed", n, tt.requests)
			}
			if g := conns.Load(); g < tt.wantMin || g > tt.wantMax {
				t.Errorf("new connections = %d, want %d..%d", g, tt.wantMin, tt.wantMax)
			}
		})
	}
}

// TestTransportTimeouts: the response-header timeout ends a wait for
// headers, never a stream whose headers have arrived; RELAY_TIMEOUT is a
// whole-request deadline and does end such a stream.
func TestTransportTimeouts(t *testing.T) {
	const chunks = 6 // every 100 ms: the stream outlives both timeouts below
	silent := func(stop <-chan struct{}) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		}
	}
	stream := func(stop <-chan struct{}) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for i := range chunks {
				select {
				case <-tick.C:
				case <-r.Context().Done():
					return
				case <-stop:
					return
				}
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
			}
		}
	}
	tests := []struct {
		name          string
		upstream      func(<-chan struct{}) http.HandlerFunc
		headerTimeout time.Duration
		relayTimeout  time.Duration
		wantErr       string // "" = the whole stream arrives
	}{
		{"silent upstream", silent, 200 * time.Millisecond, 0, "timeout awaiting response headers"},
		{"slow but flowing stream", stream, 200 * time.Millisecond, 0, ""},
		{"RELAY_TIMEOUT cuts a flowing stream", stream, time.Minute, 250 * time.Millisecond, "Client.Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stop := make(chan struct{})
			srv := httptest.NewServer(tt.upstream(stop))
			defer srv.Close()
			defer close(stop) // before Close, which waits for handlers
			cfg := defaultHTTPConfig(t)
			cfg.ResponseHeaderTimeout = tt.headerTimeout
			cfg.RelayTimeout = tt.relayTimeout
			client, err := NewHTTPClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer client.CloseIdleConnections()

			body, err := readAll(client, srv.URL)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("stream cut after %q: %v", body, err)
				}
				if g, w := strings.Count(body, "data: "), chunks; g != w {
					t.Errorf("got %d events, want %d", g, w)
				}
				return
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want a timeout mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func readAll(c *http.Client, u string) (string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestTransportRelayProxy(t *testing.T) {
	// An HTTP proxy receives the absolute target URL and the credentials;
	// the target itself is never dialled.
	gotAuth := make(chan string, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth <- r.Header.Get("Proxy-Authorization")
		io.WriteString(w, r.URL.String())
	}))
	defer proxy.Close()
	cfg := defaultHTTPConfig(t)
	cfg.Proxy = strings.Replace(proxy.URL, "http://", "http://user:secret@", 1)
	client, err := NewHTTPClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()

	body, err := readAll(client, "http://upstream.invalid/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	if g, w := body, "http://upstream.invalid/v1/models"; g != w {
		t.Errorf("proxy saw %q, want %q", g, w)
	}
	if g, w := <-gotAuth, "Basic dXNlcjpzZWNyZXQ="; g != w {
		t.Errorf("Proxy-Authorization = %q, want %q", g, w)
	}
}

func TestNewTransportRejectsProxy(t *testing.T) {
	for _, p := range []string{"ftp://proxy:21", "socks4://proxy:1080", "http://user:hunter2@"} {
		cfg := HTTPConfig{Proxy: p}
		_, err := NewTransport(cfg)
		if err == nil {
			t.Errorf("NewTransport(proxy %q) = nil error, want one", p)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the proxy password: %v", err)
		}
	}
}

func TestLogTransport(t *testing.T) {
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		t.Setenv(k, "")
	}
	cfg := defaultHTTPConfig(t)
	withProxy := cfg
	withProxy.Proxy = "socks5://user:hunter2@10.0.0.1:1080"
	withProxy.RelayTimeout = 10 * time.Minute
	tests := []struct {
		name string
		cfg  HTTPConfig
		want string
	}{
		{"defaults", cfg, "HTTP transport: keepalive=1m30s max_idle=100 max_idle_per_host=20 max_conns_per_host=0 dial_timeout=10s " +
			"tls_timeout=10s response_header_timeout=5m0s idle_conn_timeout=1m30s http2=true proxy=none relay_timeout=none"},
		{"proxy and relay timeout", withProxy, "proxy=socks5://10.0.0.1:1080 relay_timeout=10m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			restore := SetLogOutput(&buf)
			LogTransport(tt.cfg)
			restore()
			line := buf.String()
			if !strings.HasPrefix(line, "[SYS] ") || !strings.HasSuffix(strings.TrimSpace(line), tt.want) {
				t.Errorf("log line = %q, want a [SYS] line ending %q", line, tt.want)
			}
			if strings.Contains(line, "hunter2") || strings.Contains(line, "user") {
				t.Errorf("log line leaks proxy credentials: %q", line)
			}
		})
	}
}
