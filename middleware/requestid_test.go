package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func init() { gin.SetMode(gin.TestMode) }

func TestAssignRequestID(t *testing.T) {
	e := gin.New()
	e.Use(AssignRequestID())
	var fromGin, fromRequest string
	e.GET("/x", func(c *gin.Context) {
		fromGin, fromRequest = RequestID(c), RequestID(c.Request.Context())
	})
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
		id := rec.Header().Get(RequestIDHeader)
		if len(id) != 24 {
			t.Fatalf("id %q has %d characters, want 24", id, len(id))
		}
		if fromGin != id || fromRequest != id {
			t.Fatalf("RequestID = %q (gin) %q (request), header %q", fromGin, fromRequest, id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
	if g := RequestID(httptest.NewRequest(http.MethodGet, "/", nil).Context()); g != "" {
		t.Errorf("RequestID outside the middleware = %q, want empty", g)
	}
}

func TestNewRequestIDStartsWithTime(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if g, w := newRequestID(now)[:14], "20250102030405"; g != w {
		t.Errorf("id prefix = %q, want %q", g, w)
	}
}

func BenchmarkRequestID(b *testing.B) {
	b.ReportAllocs()
	now := time.Now()
	for i := 0; i < b.N; i++ {
		_ = newRequestID(now)
	}
}
