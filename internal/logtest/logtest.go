// Package logtest captures the process log (common.SetLogOutput) in tests.
package logtest

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"one-api/common"
)

// Buffer is a bytes.Buffer safe for one writer goroutine per request and a
// reading test at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines returns the complete lines written so far.
func (s *Buffer) Lines() []string {
	out := strings.TrimRight(s.String(), "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// Capture sends the process log to a new Buffer until the test ends.
func Capture(tb testing.TB) *Buffer {
	tb.Helper()
	buf := &Buffer{}
	tb.Cleanup(common.SetLogOutput(buf))
	return buf
}
