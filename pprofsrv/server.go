// Package pprofsrv serves net/http/pprof on its own loopback listener
// (PPROF_ENABLED, PPROF_HOST, PPROF_PORT), never on the gateway's port.
//
// Importing net/http/pprof registers its handlers on http.DefaultServeMux as
// a side effect of that package; the gateway never serves DefaultServeMux,
// and this server uses its own mux.
package pprofsrv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"time"

	"one-api/common"
)

// Sampling rates switched on while the server runs, so /debug/pprof/block
// and /debug/pprof/mutex have something to show. Both are modest: a block
// event is sampled about once per 10µs spent blocked (every longer event is
// always kept), and one mutex contention event in 100.
const (
	blockProfileRate     = 10_000 // ns, runtime.SetBlockProfileRate
	mutexProfileFraction = 100    // runtime.SetMutexProfileFraction
)

// DefaultHost is where pprof listens when PPROF_HOST is empty: profiles
// expose memory contents and command lines, so not on every interface.
const DefaultHost = "127.0.0.1"

// Server is the pprof listener. A nil *Server (pprof disabled) is valid:
// Start and Shutdown do nothing and Addr is "".
type Server struct {
	addr      string
	srv       *http.Server
	ln        net.Listener
	done      chan struct{} // closed when Serve returns
	prevMutex int
}

// New returns a server for cfg, or nil when cfg.Enabled is false. Port 0
// picks a free port (tests); Addr reports it after Start.
func New(cfg common.PprofConfig) *Server {
	if !cfg.Enabled {
		return nil
	}
	host := cfg.Host
	if host == "" {
		host = DefaultHost
	}
	mux := http.NewServeMux()
	// Index also serves the named profiles: heap, goroutine, allocs,
	// block, mutex, threadcreate.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &Server{
		addr: net.JoinHostPort(host, strconv.Itoa(cfg.Port)),
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			// No WriteTimeout: profile?seconds=30 and trace stream for as
			// long as asked.
		},
	}
}

// Start listens, switches on block and mutex sampling, and serves in the
// background until Shutdown. It returns the listen error, if any.
func (s *Server) Start() error {
	if s == nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("pprof listen on %s: %w", s.addr, err)
	}
	s.ln = ln
	s.done = make(chan struct{})
	runtime.SetBlockProfileRate(blockProfileRate)
	s.prevMutex = runtime.SetMutexProfileFraction(mutexProfileFraction)
	common.SysLog("pprof listening on %s", ln.Addr())
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			common.Error("pprof server: %v", err)
		}
	}()
	return nil
}

// Addr is the address being listened on ("127.0.0.1:6060"), or the
// configured one before Start; "" for a nil server.
func (s *Server) Addr() string {
	if s == nil {
		return ""
	}
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.addr
}

// Shutdown stops the server, waits for its goroutine and switches sampling
// back off. An in-flight CPU profile or trace is cut short when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil || s.ln == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		// A long profile is still streaming: drop it rather than wait.
		s.srv.Close()
	}
	<-s.done
	runtime.SetBlockProfileRate(0)
	runtime.SetMutexProfileFraction(s.prevMutex)
	if err != nil {
		return fmt.Errorf("pprof shutdown: %w", err)
	}
	return nil
}
