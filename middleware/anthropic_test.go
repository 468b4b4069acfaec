package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/model"
	"one-api/tokenlimit"
)

// TestTokenAuthAnthropic: on /v1/messages the key may come in x-api-key (as
// Anthropic's SDK sends it) and every refusal is in Anthropic's shape;
// other routes keep OpenAI's.
func TestTokenAuthAnthropic(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	ok := model.TokenAuth{TokenID: 1, Name: "tok", Status: model.TokenEnabled, ExpiredTime: -1, RemainQuota: 100,
		UserID: 1, UserStatus: model.UserEnabled, Role: model.RoleCommon, Group: "default", Models: "claude-x"}
	store := &mapTokens{auth: map[string]model.TokenAuth{"ok": ok}}
	e := gin.New()
	e.Use(func(c *gin.Context) { c.Writer.Header().Set(RequestIDHeader, "rid-1"); c.Next() })
	auth := TokenAuth(TokenAuthConfig{Tokens: store, Model: func(c *gin.Context) (string, error) { return c.GetHeader("X-Model"), nil }})
	handler := func(c *gin.Context) { c.String(200, "ok") }
	e.POST("/v1/messages", auth, handler)
	e.POST("/v1/chat/completions", auth, handler)

	for _, tc := range []struct {
		name, path, header, value, model string
		status                           int
		errType                          string // Anthropic's; "" = OpenAI's shape
	}{
		{"x-api-key", "/v1/messages", "X-Api-Key", "sk-ok", "claude-x", 200, ""},
		{"bearer", "/v1/messages", "Authorization", "Bearer sk-ok", "claude-x", 200, ""},
		{"x-api-key on chat", "/v1/chat/completions", "X-Api-Key", "sk-ok", "claude-x", 200, ""},
		{"no key", "/v1/messages", "", "", "claude-x", 401, "authentication_error"},
		{"bad key", "/v1/messages", "X-Api-Key", "sk-bad", "claude-x", 401, "authentication_error"},
		{"model not allowed", "/v1/messages", "X-Api-Key", "sk-ok", "gpt-4o", 403, "permission_error"},
		{"chat keeps OpenAI's shape", "/v1/chat/completions", "X-Api-Key", "sk-bad", "claude-x", 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", tc.path, strings.NewReader("{}"))
			if tc.header != "" {
				req.Header.Set(tc.header, tc.value)
			}
			req.Header.Set("X-Model", tc.model)
			w := httptest.NewRecorder()
			e.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 200 {
				return
			}
			if tc.errType == "" {
				var body OpenAIError
				if json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error.Type != "one_api_error" {
					t.Errorf("body %s, want OpenAI's shape", w.Body)
				}
				return
			}
			var body AnthropicError
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Type != "error" || body.Error.Type != tc.errType ||
				!strings.HasSuffix(body.Error.Message, "(request id: rid-1)") {
				t.Errorf("body %s, want Anthropic's %s with the request id", w.Body, tc.errType)
			}
		})
	}
}

func TestAnthropicErrorType(t *testing.T) {
	for status, want := range map[int]string{
		400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
		413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 502: "api_error", 503: "api_error",
		504: "timeout_error", 529: "overloaded_error",
	} {
		if g := AnthropicErrorType(status); g != want {
			t.Errorf("%d: %s, want %s", status, g, want)
		}
	}
	if g := NewAnthropicError(http.StatusBadGateway, "upstream_error", "m").Error.Type; g != "api_error" {
		t.Errorf("foreign type kept: %s", g)
	}
	if g := NewAnthropicError(529, "overloaded_error", "m").Error.Type; g != "overloaded_error" {
		t.Errorf("Anthropic's type replaced: %s", g)
	}
}

// TestRateLimitAnthropic: a token over its limit on /v1/messages gets
// Anthropic's 429 (rate_limit_error) with Retry-After, which its SDKs honour.
func TestRateLimitAnthropic(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	now := time.Unix(1_700_000_040, 0)
	limited := model.TokenAuth{TokenID: 7, Status: model.TokenEnabled, ExpiredTime: -1, RemainQuota: 100,
		UserID: 1, UserStatus: model.UserEnabled, Group: "default", RPMLimit: 1}
	e := gin.New()
	e.POST("/v1/messages", TokenAuth(TokenAuthConfig{
		Tokens: &mapTokens{auth: map[string]model.TokenAuth{"limited": limited}}, Now: func() time.Time { return now },
		Limiter: tokenlimit.NewLocalClock(func() time.Time { return now }),
		Model:   func(*gin.Context) (string, error) { return "m", nil },
	}), func(c *gin.Context) { c.Status(200) })
	var w *httptest.ResponseRecorder
	for range 2 {
		req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader("{}"))
		req.Header.Set("X-Api-Key", "sk-limited")
		w = httptest.NewRecorder()
		e.ServeHTTP(w, req)
	}
	var body AnthropicError
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" ||
		json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Type != "error" || body.Error.Type != "rate_limit_error" {
		t.Errorf("second request: %d Retry-After %q %s, want Anthropic's 429", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}
