package pprofsrv

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"one-api/common"
)

func startTest(t *testing.T, cfg common.PprofConfig) *Server {
	t.Helper()
	s := New(cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestServesProfilesOnLoopback(t *testing.T) {
	var logs bytes.Buffer
	restore := common.SetLogOutput(&logs)
	defer restore()
	s := startTest(t, common.PprofConfig{Enabled: true, Port: 0})

	host, _, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Errorf("listening on %s, want loopback by default", s.Addr())
	}
	if want := "[SYS] "; !strings.HasPrefix(logs.String(), want) || !strings.Contains(logs.String(), "pprof listening on "+s.Addr()) {
		t.Errorf("log = %q, want a [SYS] pprof listening on %s line", logs.String(), s.Addr())
	}

	tests := []struct {
		path string
		want string // in the body
	}{
		{"/debug/pprof/", "goroutine"},
		{"/debug/pprof/heap", ""},
		{"/debug/pprof/allocs", ""},
		{"/debug/pprof/goroutine?debug=1", "goroutine profile:"},
		{"/debug/pprof/goroutine?debug=2", "goroutine "},
		{"/debug/pprof/block?debug=1", "--- contention:"},
		{"/debug/pprof/mutex?debug=1", "--- mutex:"},
		{"/debug/pprof/threadcreate?debug=1", "threadcreate profile:"},
		{"/debug/pprof/cmdline", ""},
		{"/debug/pprof/symbol", "num_symbols:"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get("http://" + s.Addr() + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d: %s", tt.path, resp.StatusCode, body)
			}
			if !bytes.Contains(body, []byte(tt.want)) {
				t.Errorf("GET %s body lacks %q", tt.path, tt.want)
			}
		})
	}
}

func TestSamplingOnlyWhileEnabled(t *testing.T) {
	before := runtime.SetMutexProfileFraction(-1)
	s := New(common.PprofConfig{Enabled: true, Host: "127.0.0.1", Port: 0})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if g, w := runtime.SetMutexProfileFraction(-1), mutexProfileFraction; g != w {
		t.Errorf("mutex fraction while serving = %d, want %d", g, w)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g := runtime.SetMutexProfileFraction(-1); g != before {
		t.Errorf("mutex fraction after shutdown = %d, want %d restored", g, before)
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Errorf("%s still accepts connections after Shutdown", s.Addr())
	}
}

func TestDisabledListensNowhere(t *testing.T) {
	// Find a free port, then let a disabled server "use" it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	before := runtime.SetMutexProfileFraction(-1)
	s := New(common.PprofConfig{Enabled: false, Host: "127.0.0.1", Port: port})
	if s != nil {
		t.Fatalf("New(disabled) = %v, want nil", s)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start on nil server: %v", err)
	}
	if got := s.Addr(); got != "" {
		t.Errorf("Addr() = %q, want empty", got)
	}
	if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
		c.Close()
		t.Errorf("something listens on port %d with pprof disabled", port)
	}
	if g := runtime.SetMutexProfileFraction(-1); g != before {
		t.Errorf("mutex fraction = %d with pprof disabled, want %d untouched", g, before)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown on nil server: %v", err)
	}
}

func TestStartReportsListenError(t *testing.T) {
	first := startTest(t, common.PprofConfig{Enabled: true, Port: 0})
	_, port, _ := net.SplitHostPort(first.Addr())
	p, _ := strconv.Atoi(port)

	second := New(common.PprofConfig{Enabled: true, Host: "127.0.0.1", Port: p})
	err := second.Start()
	if err == nil {
		second.Shutdown(context.Background())
		t.Fatal("second Start on a taken port succeeded")
	}
	if !strings.Contains(err.Error(), "pprof listen on 127.0.0.1:"+port) {
		t.Errorf("error %q lacks context", err)
	}
	if err := second.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after failed Start: %v", err)
	}
}
