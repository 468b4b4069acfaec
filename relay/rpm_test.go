package relay

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"one-api/common"
	"one-api/ledger"
	"one-api/model"
	"one-api/tokenlimit"
)

// reserveCounter counts the ledger calls a request makes.
type reserveCounter struct {
	model.QuotaLedger
	reserves atomic.Int64
}

func (l *reserveCounter) Reserve(ctx context.Context, r model.Reservation) error {
	l.reserves.Add(1)
	return l.QuotaLedger.Reserve(ctx, r)
}

// TestTokenRPMLimit: through the whole relay, a token with rpm_limit 3 gets
// three answers and then OpenAI's 429 with Retry-After; the refused requests
// reach neither the upstream nor the ledger nor the logs, and with the token
// cached they read nothing from the database.
func TestTokenRPMLimit(t *testing.T) {
	up := newFake(t, answerJSON(10, 20))
	// The cache and the ledger need the env's store: they are put in place
	// once it exists.
	counter, tokens := &reserveCounter{}, &lateTokens{}
	e := newEnv(t, envConfig{
		channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo")},
		limiter:  tokenlimit.NewLocal(), tokens: tokens, ledger: counter,
	})
	counter.QuotaLedger = ledger.NewDirect(e.store.Gorm())
	cache := model.NewTokenCache(e.store, common.CacheConfig{TTL: time.Hour})
	tokens.next = cache
	tok, err := e.store.GetToken(context.Background(), e.tokenID, e.userID)
	if err != nil {
		t.Fatal(err)
	}
	limit := 3
	tok.RPMLimit = &limit
	if err := e.store.UpdateToken(context.Background(), tok, []string{"rpm_limit"}); err != nil {
		t.Fatal(err)
	}

	// Away from a minute's end, so that all requests fall in one window.
	if s := time.Now().Second(); s > 55 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	body := `{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"hi"}]}`
	for i := range limit {
		if w := e.do("POST", "/v1/chat/completions", body); w.Code != http.StatusOK {
			t.Fatalf("request %d of %d: %d %s", i+1, limit, w.Code, w.Body)
		}
	}
	paid := e.balances(1)
	loads, upstream := cache.Stats().Loads, up.hits.Load()
	for range 5 {
		w := e.do("POST", "/v1/chat/completions", body)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
			t.Fatalf("request over the limit: %d (Retry-After %q) %s, want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
	if got := e.balances(1); got != paid {
		t.Errorf("balances after refused requests = %+v, want unchanged %+v", got, paid)
	}
	if n := counter.reserves.Load(); n != int64(limit) {
		t.Errorf("ledger reserves = %d, want %d (none for refused requests)", n, limit)
	}
	if n := len(e.logs()); n != limit {
		t.Errorf("consume logs = %d, want %d", n, limit)
	}
	if got := cache.Stats().Loads; got != loads {
		t.Errorf("token loads from the database during refused requests = %d, want 0", got-loads)
	}
	if got := up.hits.Load(); got != upstream {
		t.Errorf("upstream calls during refused requests = %d, want 0", got-upstream)
	}
}

// lateTokens is a TokenStore whose implementation is set after the env is
// built.
type lateTokens struct{ next model.TokenStore }

func (l *lateTokens) GetTokenAuth(ctx context.Context, key string) (*model.TokenAuth, error) {
	return l.next.GetTokenAuth(ctx, key)
}
