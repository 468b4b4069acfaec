package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func TestIPLimiter(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	l := newIPLimiter(3, time.Minute, func() time.Time { return now })

	steps := []struct {
		at      time.Duration // since start
		ip      string
		allowed bool
	}{
		{0, "a", true}, {0, "a", true}, {0, "a", true},
		{0, "a", false},                 // burst spent
		{0, "b", true},                  // another IP has its own bucket
		{time.Second, "a", false},       // refused calls do not count, but the refill is 20 s per request
		{20 * time.Second, "a", true},   // one request refilled
		{20 * time.Second, "a", false},  //
		{100 * time.Second, "a", true},  // 80 s idle: full again
		{100 * time.Second, "a", true},  //
		{100 * time.Second, "a", true},  //
		{100 * time.Second, "a", false}, // but never more than the burst
	}
	for i, s := range steps {
		now = start.Add(s.at)
		wait := l.reserve(s.ip)
		if got := wait == 0; got != s.allowed {
			t.Fatalf("step %d (%v, %s): allowed = %v (wait %v), want %v", i, s.at, s.ip, got, wait, s.allowed)
		}
		if !s.allowed && (wait <= 0 || wait > 20*time.Second) {
			t.Errorf("step %d: wait %v, want within one refill interval (20s)", i, wait)
		}
	}

	// An IP idle for a whole window is forgotten at the next sweep.
	now = start.Add(100*time.Second + 2*time.Minute)
	l.reserve("c")
	l.mu.Lock()
	_, hasA := l.buckets["a"]
	_, hasB := l.buckets["b"]
	n := len(l.buckets)
	l.mu.Unlock()
	if hasA || hasB || n != 1 {
		t.Errorf("after the sweep %d buckets (a kept: %v, b kept: %v), want only c", n, hasA, hasB)
	}
}

func TestRateLimitHandler(t *testing.T) {
	e := gin.New()
	e.Use(RateLimit(1, time.Hour))
	e.GET("/api/x", func(c *gin.Context) { c.Status(http.StatusNoContent) })

	call := func(ip string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/api/x", nil)
		req.RemoteAddr = ip + ":5555"
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	if rec := call("203.0.113.1"); rec.Code != http.StatusNoContent {
		t.Fatalf("first call: %d", rec.Code)
	}
	rec := call("203.0.113.1")
	var env envelope
	if rec.Code != http.StatusTooManyRequests || json.Unmarshal(rec.Body.Bytes(), &env) != nil || env.Success {
		t.Errorf("second call: %d %s, want 429 in the envelope", rec.Code, rec.Body.String())
	}
	if g, w := rec.Header().Get("Retry-After"), "3600"; g != w {
		t.Errorf("Retry-After = %q, want %q", g, w)
	}
	if rec := call("203.0.113.2"); rec.Code != http.StatusNoContent {
		t.Errorf("other IP: %d, want 204", rec.Code)
	}

	off := gin.New()
	off.Use(RateLimit(0, time.Hour))
	off.GET("/api/x", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	for i := 0; i < 3; i++ {
		rec := httptest.NewRecorder()
		off.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/x", nil))
		if rec.Code != http.StatusNoContent {
			t.Fatalf("limit 0 refused call %d: %d", i, rec.Code)
		}
	}
}

func BenchmarkIPLimiter(b *testing.B) {
	b.ReportAllocs()
	l := newIPLimiter(1<<30, time.Second, time.Now)
	for i := 0; i < b.N; i++ {
		l.reserve("192.0.2.1")
	}
}
