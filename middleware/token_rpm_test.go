package middleware

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/model"
	"one-api/tokenlimit"
)

// countingLimiter records how often it was asked.
type countingLimiter struct {
	next  tokenlimit.Limiter
	calls atomic.Int64
}

func (l *countingLimiter) Allow(ctx context.Context, id, limit int) (bool, time.Duration) {
	l.calls.Add(1)
	return l.next.Allow(ctx, id, limit)
}

// TestTokenAuthRPMLimit: a token over its requests-per-minute limit gets
// OpenAI's 429 with Retry-After before its body is read or the handler
// (which reserves and logs) runs; a token without a limit never reaches
// the limiter.
func TestTokenAuthRPMLimit(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	now := time.Unix(1_700_000_040, 0) // the start of a minute
	base := model.TokenAuth{TokenID: 7, Status: model.TokenEnabled, ExpiredTime: -1, RemainQuota: 100,
		UserID: 1, UserStatus: model.UserEnabled, Group: "default"}
	limited := base
	limited.RPMLimit = 2
	other := limited
	other.TokenID = 8
	store := &mapTokens{auth: map[string]model.TokenAuth{"free": base, "limited": limited, "other": other}}
	limiter := &countingLimiter{next: tokenlimit.NewLocalClock(func() time.Time { return now })}
	var parsed, handled int
	e := gin.New()
	e.Use(func(c *gin.Context) { c.Writer.Header().Set(RequestIDHeader, "rid-9"); c.Next() })
	e.POST("/v1/chat/completions", TokenAuth(TokenAuthConfig{
		Tokens: store, Now: func() time.Time { return now }, Limiter: limiter,
		Model: func(*gin.Context) (string, error) { parsed++; return "m", nil },
	}), func(c *gin.Context) { handled++; c.Status(200) })
	send := func(key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer sk-"+key)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		return w
	}

	for i := range 50 {
		if w := send("free"); w.Code != 200 {
			t.Fatalf("token without a limit, request %d: %d %s", i, w.Code, w.Body)
		}
	}
	if n := limiter.calls.Load(); n != 0 {
		t.Errorf("the limiter was asked %d times for a token without a limit, want 0", n)
	}

	parsed, handled = 0, 0
	for i := range 2 {
		if w := send("limited"); w.Code != 200 {
			t.Fatalf("limited token, request %d of 2: %d %s", i+1, w.Code, w.Body)
		}
	}
	w := send("limited")
	if w.Code != 429 {
		t.Fatalf("third request in a minute with rpm_limit 2: %d %s, want 429", w.Code, w.Body)
	}
	if got := w.Header().Get("Retry-After"); got != "61" {
		t.Errorf("Retry-After = %q, want 61 (the window ends in 60 s)", got)
	}
	var body OpenAIError
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Type != "requests" || body.Error.Code != "rate_limit_exceeded" ||
		!strings.Contains(body.Error.Message, "2 requests per minute") || !strings.HasSuffix(body.Error.Message, "(request id: rid-9)") {
		t.Errorf("429 body = %+v, want OpenAI's rate-limit error with the request id", body.Error)
	}
	if parsed != 2 || handled != 2 {
		t.Errorf("body parsed %d times, handler ran %d times; want 2 and 2 (not for the refused request)", parsed, handled)
	}
	// The limit is per token.
	if w := send("other"); w.Code != 200 {
		t.Errorf("another limited token: %d, want 200", w.Code)
	}
}

// TestTokenAuthAllocsWithLimiter: a configured limiter costs a token
// without a limit no allocation (the TestTokenAuthAllocs budget holds), and
// a limited token none either.
func TestTokenAuthAllocsWithLimiter(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	for _, limit := range []int{0, tokenlimit.MaxLimit} {
		store := &mapTokens{auth: map[string]model.TokenAuth{"ok": {Status: model.TokenEnabled, ExpiredTime: -1, RemainQuota: 1,
			UserStatus: model.UserEnabled, RPMLimit: limit}}}
		h := TokenAuth(TokenAuthConfig{Tokens: store, Limiter: tokenlimit.NewLocal()})
		req := httptest.NewRequest("POST", "/v1/chat/completions", nil)
		req.Header.Set("Authorization", "Bearer sk-ok")
		w := httptest.NewRecorder()
		run := func(handler bool) float64 {
			return testing.AllocsPerRun(100, func() {
				c, _ := gin.CreateTestContext(w)
				c.Request = req
				if handler {
					h(c)
				}
			})
		}
		// The store's copy, the TokenInfo, gin's key map and its bucket.
		if extra := run(true) - run(false); extra > 4 {
			t.Errorf("rpm_limit %d: token auth allocates %.0f times per request, want at most 4", limit, extra)
		}
	}
}

// BenchmarkTokenAuthRPM is token auth on the relay path under parallel
// load, for a token without a limit (one branch) and one with a limit
// (one lock-free map read and compare-and-swap per request).
func BenchmarkTokenAuthRPM(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	for _, tc := range []struct {
		name  string
		limit int
	}{{"no-limit", 0}, {"limited", tokenlimit.MaxLimit}} {
		b.Run(tc.name, func(b *testing.B) {
			auth := model.TokenAuth{TokenID: 1, Status: model.TokenEnabled, ExpiredTime: -1, RemainQuota: 1,
				UserStatus: model.UserEnabled, RPMLimit: tc.limit}
			e := gin.New()
			e.POST("/v1/chat/completions", TokenAuth(TokenAuthConfig{Tokens: staticAuth{&auth}, Limiter: tokenlimit.NewLocal()}),
				func(c *gin.Context) { c.Status(204) })
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("POST", "/v1/chat/completions", nil)
				req.Header.Set("Authorization", "Bearer sk-ok")
				w := httptest.NewRecorder()
				for pb.Next() {
					e.ServeHTTP(w, req)
					if w.Code != 204 {
						b.Fatalf("status %d", w.Code)
					}
				}
			})
		})
	}
}

// staticAuth answers every key with a copy of one token, safe for
// concurrent use.
type staticAuth struct{ a *model.TokenAuth }

func (s staticAuth) GetTokenAuth(context.Context, string) (*model.TokenAuth, error) {
	cp := *s.a
	return &cp, nil
}
