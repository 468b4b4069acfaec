package controller_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"one-api/common"
)

func TestRateLimits(t *testing.T) {
	e := newEnv(t, withConfig(func(c *common.Config) {
		c.CriticalRateLimit, c.CriticalRateWindow = 2, time.Hour
		c.GlobalAPIRateLimit, c.GlobalAPIRateWindow = 5, time.Hour
	}))
	login := request{method: "POST", path: "/api/user/login", ip: "198.51.100.7",
		body: map[string]string{"username": "root", "password": "wrong-password"}}
	e.refused(login)
	e.refused(login)
	res := e.do(login)
	if res.Code != http.StatusTooManyRequests || res.env.Success || res.env.Message == "" {
		t.Fatalf("third login: got %d %s, want 429 in the envelope", res.Code, res.Body.String())
	}
	if res.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Another address has its own budget.
	login.ip = "198.51.100.8"
	e.refused(login)

	// The global /api limit: 5 per address, the three logins included.
	status := request{method: "GET", path: "/api/status", ip: "198.51.100.7"}
	e.ok(status)
	e.ok(status)
	if res := e.do(status); res.Code != http.StatusTooManyRequests {
		t.Errorf("sixth /api call: got %d, want 429", res.Code)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, withConfig(func(c *common.Config) { c.MaxRequestBodyBytes = 1 << 10 }))
	big := []byte(`{"name":"` + strings.Repeat("x", 2<<10) + `"}`)
	tests := []struct {
		name string
		body io.Reader
	}{
		{"declared length", bytes.NewReader(big)},
		// A reader of unknown length: caught while the handler reads.
		{"streamed", io.MultiReader(bytes.NewReader(big))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(request{method: "POST", path: "/api/token/", auth: rootToken, body: tt.body})
			if res.Code != http.StatusRequestEntityTooLarge || res.env.Success || !strings.Contains(res.env.Message, "too large") {
				t.Errorf("got %d %s, want 413 in the envelope", res.Code, res.Body.String())
			}
		})
	}
	e.ok(request{method: "POST", path: "/api/token/", auth: rootToken, body: map[string]string{"name": "small"}})
}

func TestBothSlashForms(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/api/token", "/api/token/", "/api/user/self", "/api/user/self/", "/api/status/", "/api/log/self/stat/"} {
		e.ok(request{method: "GET", path: path, auth: rootToken})
	}
	e.ok(request{method: "POST", path: "/api/user/login/", body: map[string]string{"username": "root", "password": rootPassword}})
	e.ok(request{method: "POST", path: "/api/token", auth: rootToken, body: map[string]string{"name": "no-slash"}})
}
