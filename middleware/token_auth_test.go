package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/model"
)

// mapTokens is a TokenStore over a map.
type mapTokens struct {
	auth  map[string]model.TokenAuth
	calls int
}

func (m *mapTokens) GetTokenAuth(_ context.Context, key string) (*model.TokenAuth, error) {
	m.calls++
	a, ok := m.auth[key]
	if !ok {
		return nil, model.ErrTokenNotFound
	}
	return &a, nil
}

func TestParseTokenHeader(t *testing.T) {
	for _, tc := range []struct {
		in, key, channel string
		ok               bool
	}{
		{"Bearer sk-abc", "abc", "", true},
		{"Bearer sk-abc-12", "abc", "12", true},
		{"bearer sk-abc-12-x", "abc", "12", true},
		{"sk-abc", "abc", "", true},
		{"abc", "abc", "", true},
		{"Bearer abc-3", "abc", "3", true},
		{"", "", "", false},
		{"Bearer ", "", "", false},
		{"Bearer sk-", "", "", false},
		{"Bearer sk--5", "", "5", false},
	} {
		key, ch, ok := ParseTokenHeader(tc.in)
		if key != tc.key || ch != tc.channel || ok != tc.ok {
			t.Errorf("ParseTokenHeader(%q) = %q, %q, %v; want %q, %q, %v", tc.in, key, ch, ok, tc.key, tc.channel, tc.ok)
		}
	}
}

func FuzzTokenHeader(f *testing.F) {
	for _, s := range []string{"Bearer sk-abc", "Bearer sk-abc-12", "sk-", "bearer  sk-a-b-c", "Bearer \x00-", "--"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		key, ch, ok := ParseTokenHeader(h)
		if ok != (key != "") {
			t.Fatalf("ok = %v with key %q", ok, key)
		}
		if strings.Contains(key, "-") || strings.Contains(ch, "-") {
			t.Fatalf("key %q or channel %q contains the separator", key, ch)
		}
		if key != "" && !strings.Contains(h, key) {
			t.Fatalf("key %q is not from the header %q", key, h)
		}
	})
}

func TestTokenAuth(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	now := time.Unix(1_700_000_000, 0)
	base := model.TokenAuth{TokenID: 7, Name: "tok", Status: model.TokenEnabled, ExpiredTime: -1, RemainQuota: 100,
		UserID: 1, Username: "u", UserStatus: model.UserEnabled, Role: model.RoleCommon, Group: "default", UserQuota: 100}
	with := func(f func(*model.TokenAuth)) model.TokenAuth {
		a := base
		f(&a)
		return a
	}
	store := &mapTokens{auth: map[string]model.TokenAuth{
		"ok":        base,
		"disabled":  with(func(a *model.TokenAuth) { a.Status = model.TokenDisabled }),
		"expired":   with(func(a *model.TokenAuth) { a.Status = model.TokenExpired }),
		"past":      with(func(a *model.TokenAuth) { a.ExpiredTime = now.Unix() - 1 }),
		"future":    with(func(a *model.TokenAuth) { a.ExpiredTime = now.Unix() + 1 }),
		"exhausted": with(func(a *model.TokenAuth) { a.Status = model.TokenExhausted }),
		"empty":     with(func(a *model.TokenAuth) { a.RemainQuota = 0 }),
		"unlimited": with(func(a *model.TokenAuth) { a.RemainQuota, a.Unlimited = 0, true }),
		"subnet":    with(func(a *model.TokenAuth) { a.Subnet = "10.0.0.0/8, 192.168.1.7" }),
		"bansubnet": with(func(a *model.TokenAuth) { a.Subnet = "10.0.0.0/8" }),
		"userdown":  with(func(a *model.TokenAuth) { a.UserStatus = model.UserDisabled }),
		"models":    with(func(a *model.TokenAuth) { a.Models = "gpt-4o, gpt-3.5-turbo" }),
		"admin":     with(func(a *model.TokenAuth) { a.Role = model.RoleAdmin }),
		// Checks run in compat.md's order: an expired token of a disabled
		// user is refused as expired.
		"order": with(func(a *model.TokenAuth) { a.Status, a.UserStatus = model.TokenExpired, model.UserDisabled }),
	}}
	requested := "gpt-3.5-turbo"
	e := gin.New()
	e.Use(func(c *gin.Context) { c.Writer.Header().Set(RequestIDHeader, "rid-1"); c.Next() })
	e.POST("/v1/chat/completions", TokenAuth(TokenAuthConfig{
		Tokens: store, Now: func() time.Time { return now },
		Model: func(c *gin.Context) (string, error) {
			if requested == "bad" {
				return "", errors.New("model is required")
			}
			return requested, nil
		},
	}), func(c *gin.Context) {
		ti := TokenInfoFrom(c)
		c.JSON(200, gin.H{"user": ti.Auth.UserID, "channel": ti.ChannelID, "model": ti.Model})
	})

	for _, tc := range []struct {
		name, header, ip, model string
		status                  int
		msg                     string
	}{
		{"ok", "Bearer sk-ok", "", "", 200, ""},
		{"no header", "", "", "", 401, "no token provided"},
		{"unknown", "Bearer sk-nope", "", "", 401, "invalid token"},
		{"disabled", "Bearer sk-disabled", "", "", 401, "token is disabled"},
		{"expired status", "Bearer sk-expired", "", "", 401, "token has expired"},
		{"expired time", "Bearer sk-past", "", "", 401, "token has expired"},
		{"not yet expired", "Bearer sk-future", "", "", 200, ""},
		{"exhausted status", "Bearer sk-exhausted", "", "", 403, "quota is exhausted"},
		{"no quota left", "Bearer sk-empty", "", "", 403, "quota is exhausted"},
		{"unlimited", "Bearer sk-unlimited", "", "", 200, ""},
		{"inside subnet", "Bearer sk-subnet", "10.1.2.3", "", 200, ""},
		{"listed address", "Bearer sk-subnet", "192.168.1.7", "", 200, ""},
		{"outside subnet", "Bearer sk-bansubnet", "192.168.1.7", "", 403, "may only be used from 10.0.0.0/8"},
		{"user disabled", "Bearer sk-userdown", "", "", 403, "user is disabled"},
		{"model allowed", "Bearer sk-models", "", "gpt-4o", 200, ""},
		{"model not allowed", "Bearer sk-models", "", "gpt-4", 403, "may not use model gpt-4"},
		{"bad body", "Bearer sk-ok", "", "bad", 400, "model is required"},
		{"channel by common user", "Bearer sk-ok-3", "", "", 403, "only administrators"},
		{"channel by admin", "Bearer sk-admin-3", "", "", 200, ""},
		{"bad channel by admin", "Bearer sk-admin-x", "", "", 400, "invalid channel id"},
		{"order", "Bearer sk-order", "", "", 401, "token has expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requested = "gpt-3.5-turbo"
			if tc.model != "" {
				requested = tc.model
			}
			req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader("{}"))
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			if tc.ip != "" {
				req.RemoteAddr = tc.ip + ":1234"
			}
			w := httptest.NewRecorder()
			e.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 200 {
				return
			}
			var body OpenAIError
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			wantType := "one_api_error"
			if tc.status == 400 && tc.msg == "model is required" {
				wantType = "invalid_request_error"
			}
			if !strings.Contains(body.Error.Message, tc.msg) || !strings.HasSuffix(body.Error.Message, "(request id: rid-1)") || body.Error.Type != wantType {
				t.Errorf("error = %+v, want %q with the request id, type %s", body.Error, tc.msg, wantType)
			}
		})
	}
}

// TestTokenAuthAllocs keeps the check path lean: beyond what the store
// returns, only the TokenInfo and gin's key map.
func TestTokenAuthAllocs(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	store := &mapTokens{auth: map[string]model.TokenAuth{"ok": {Status: model.TokenEnabled, ExpiredTime: -1, RemainQuota: 1,
		UserStatus: model.UserEnabled, Models: "a,b,c", Subnet: "192.0.2.0/24"}}}
	h := TokenAuth(TokenAuthConfig{Tokens: store, Model: func(*gin.Context) (string, error) { return "c", nil }})
	req := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	req.Header.Set("Authorization", "Bearer sk-ok")
	w := httptest.NewRecorder()
	run := func(handler bool) float64 {
		return testing.AllocsPerRun(100, func() {
			c, _ := gin.CreateTestContext(w)
			c.Request = req
			if !handler {
				return
			}
			h(c)
			if c.IsAborted() {
				t.Fatal("refused")
			}
		})
	}
	// The store's copy, the TokenInfo, gin's key map and its first bucket,
	// and gin's ClientIP (net.ParseIP for the trusted-proxy check).
	extra := run(true) - run(false)
	if extra > 6 {
		t.Errorf("token auth allocates %.0f times per request, want at most 6", extra)
	}
}

func TestInSubnets(t *testing.T) {
	for _, tc := range []struct {
		ip, list string
		want     bool
	}{
		{"10.1.2.3", "10.0.0.0/8", true},
		{"11.1.2.3", "10.0.0.0/8", false},
		{"::ffff:10.1.2.3", "10.0.0.0/8", true},
		{"2001:db8::1", "2001:db8::/32", true},
		{"10.1.2.3", "garbage", false},
		{"10.1.2.3", "garbage,10.1.2.3", true},
		{"not-an-ip", "0.0.0.0/0", false},
	} {
		if got := inSubnets(tc.ip, tc.list); got != tc.want {
			t.Errorf("inSubnets(%q, %q) = %v, want %v", tc.ip, tc.list, got, tc.want)
		}
	}
}
