package router

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestTrustedProxies: X-Forwarded-For decides the client IP (rate limits,
// token subnets) only when the peer is a configured proxy.
func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		want    string
	}{
		{"none trusted: the peer address counts", nil, "192.0.2.1"},
		{"peer trusted: the forwarded address counts", []string{"192.0.2.0/24"}, "203.0.113.9"},
		{"other proxy trusted: the peer address counts", []string{"10.0.0.1"}, "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(Deps{GinMode: gin.TestMode, TrustedProxies: tt.trusted, Register: []func(*gin.Engine){
				func(e *gin.Engine) { e.GET("/ip", func(c *gin.Context) { c.String(http.StatusOK, c.ClientIP()) }) },
			}})
			req := httptest.NewRequest(http.MethodGet, "/ip", nil)
			req.RemoteAddr = "192.0.2.1:4321"
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if g := rec.Body.String(); g != tt.want {
				t.Errorf("client IP = %q, want %q", g, tt.want)
			}
		})
	}
}

func TestNotFoundSpeaksEachDialect(t *testing.T) {
	e := New(Deps{GinMode: gin.TestMode})
	for path, want := range map[string]string{
		"/v1/nope":  `{"error":{"code":"unknown_url","message":"Invalid URL (GET /v1/nope)","param":"","type":"invalid_request_error"}}`,
		"/api/nope": `{"data":null,"message":"not found: /api/nope","success":false}`,
	} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound || rec.Body.String() != want {
			t.Errorf("%s: %d %s, want 404 %s", path, rec.Code, rec.Body.String(), want)
		}
	}
}
