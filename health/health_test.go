package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func serve(c *Checker, path string) (int, Status, string) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	c.Register(e)
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	var st Status
	_ = json.Unmarshal(w.Body.Bytes(), &st)
	return w.Code, st, w.Body.String()
}

func TestProbes(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("dial tcp 10.0.0.7:6379: connect: connection refused") }
	tests := []struct {
		name      string
		checks    []Check
		drain     bool
		path      string
		wantCode  int
		wantState string
		wantCheck map[string]string
	}{
		{"alive", nil, false, "/healthz", 200, "ok", nil},
		{"alive while a dependency is down", []Check{{"database", down}}, false, "/healthz", 200, "ok", nil},
		{"alive while draining", nil, true, "/healthz", 200, "ok", nil},
		{"ready", []Check{{"database", ok}, {"redis", ok}}, false, "/readyz", 200, "ok", map[string]string{"database": "ok", "redis": "ok"}},
		{"redis not configured is not checked", []Check{{"database", ok}, {"redis", nil}}, false, "/readyz", 200, "ok", map[string]string{"database": "ok"}},
		{"redis down", []Check{{"database", ok}, {"redis", down}}, false, "/readyz", 503, "unavailable", map[string]string{"database": "ok", "redis": "down"}},
		{"draining", []Check{{"database", ok}}, true, "/readyz", 503, "draining", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.checks...)
			if tt.drain {
				c.Drain()
			}
			code, st, body := serve(c, tt.path)
			if code != tt.wantCode || st.Status != tt.wantState {
				t.Errorf("got %d %q, want %d %q (%s)", code, st.Status, tt.wantCode, tt.wantState, body)
			}
			if len(st.Checks) != len(tt.wantCheck) {
				t.Errorf("checks %v, want %v", st.Checks, tt.wantCheck)
			}
			for k, v := range tt.wantCheck {
				if st.Checks[k] != v {
					t.Errorf("check %s = %q, want %q", k, st.Checks[k], v)
				}
			}
			if strings.Contains(body, "10.0.0.7") {
				t.Errorf("the probe's body leaks the error: %s", body)
			}
		})
	}
}

// A check that hangs makes readiness fail at its timeout, not hang the probe.
func TestReadyCheckTimesOut(t *testing.T) {
	c := New(Check{"database", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }})
	code, st, _ := serve(c, "/readyz")
	if code != http.StatusServiceUnavailable || st.Checks["database"] != "down" {
		t.Errorf("got %d %v, want 503 with database down", code, st.Checks)
	}
}
