package model

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"gorm.io/gorm"

	"one-api/common"
)

// seedUserTokens creates a user with the given token keys and returns its id
// and the tokens' ids.
func seedUserTokens(t testing.TB, db *gorm.DB, name string, quota int64, keys ...string) (int, []int) {
	t.Helper()
	u := &User{Username: name, Password: "x", Status: UserEnabled, Role: RoleCommon, Quota: quota,
		Group: "default", AccessToken: name, AffCode: name}
	if err := db.Create(u).Error; err != nil {
		t.Fatalf("create user: %v", err)
	}
	var ids []int
	for _, k := range keys {
		tok := &Token{UserID: u.ID, Key: k, Status: TokenEnabled, Name: k, ExpiredTime: -1, RemainQuota: 1000}
		if err := db.Create(tok).Error; err != nil {
			t.Fatalf("create token: %v", err)
		}
		ids = append(ids, tok.ID)
	}
	return u.ID, ids
}

func newTestTokenCache(t *testing.T) (*TokenCache, *Store, *atomic.Int64) {
	t.Helper()
	st := openPhaseBStore(t)
	c := NewTokenCache(st, common.CacheConfig{Enabled: true, TTL: 60 * time.Second})
	return c, st, countStatements(t, st.db)
}

func mustAuth(t *testing.T, s TokenStore, key string) *TokenAuth {
	t.Helper()
	a, err := s.GetTokenAuth(context.Background(), key)
	if err != nil {
		t.Fatalf("GetTokenAuth(%s): %v", key, err)
	}
	return a
}

func TestTokenCacheHitMakesNoQuery(t *testing.T) {
	c, st, queries := newTestTokenCache(t)
	uid, _ := seedUserTokens(t, st.db, "alice", 5000, "key-a")
	queries.Store(0)

	first := mustAuth(t, c, "key-a")
	if first.UserID != uid || first.Username != "alice" || first.UserQuota != 5000 || first.RemainQuota != 1000 {
		t.Fatalf("auth = %+v, want alice's token", first)
	}
	if g := queries.Load(); g != 1 {
		t.Fatalf("miss made %d queries, want 1", g)
	}
	queries.Store(0)
	for range 100 {
		mustAuth(t, c, "key-a")
	}
	if g := queries.Load(); g != 0 {
		t.Errorf("100 hits made %d queries, want 0", g)
	}
	if s := c.Stats(); s.Hits != 100 || s.Misses != 1 || s.Loads != 1 {
		t.Errorf("stats = %+v, want 100 hits, 1 miss, 1 load", s)
	}

	// Callers get their own copy.
	a := mustAuth(t, c, "key-a")
	a.Status = TokenDisabled
	if b := mustAuth(t, c, "key-a"); b.Status != TokenEnabled {
		t.Errorf("a caller's edit leaked into the cache: status %d", b.Status)
	}
}

// The tests that move time run in a synctest bubble: time.Sleep there
// returns as soon as every goroutine waits, with the clock moved exactly.
func TestTokenCacheTTL(t *testing.T) { synctest.Test(t, testTokenCacheTTL) }

func testTokenCacheTTL(t *testing.T) {
	c, st, queries := newTestTokenCache(t)
	seedUserTokens(t, st.db, "alice", 5000, "key-a")
	mustAuth(t, c, "key-a")
	st.db.Model(&Token{}).Where("key = ?", "key-a").Update("name", "renamed")
	queries.Store(0)

	time.Sleep(59 * time.Second)
	if a := mustAuth(t, c, "key-a"); a.Name != "key-a" || queries.Load() != 0 {
		t.Errorf("at 59 s: name %q, %d queries; want the cached name and no query", a.Name, queries.Load())
	}
	time.Sleep(time.Second)
	if a := mustAuth(t, c, "key-a"); a.Name != "renamed" || queries.Load() != 1 {
		t.Errorf("at 60 s: name %q, %d queries; want the new name from one query", a.Name, queries.Load())
	}
}

func TestTokenCacheInvalidation(t *testing.T) {
	tests := []struct {
		name       string
		change     func(db *gorm.DB, uid, tid int)
		invalidate func(c *TokenCache, uid int)
		check      func(a *TokenAuth) bool
	}{
		{"token disabled", func(db *gorm.DB, _, tid int) {
			db.Model(&Token{}).Where("id = ?", tid).Update("status", TokenDisabled)
		}, func(c *TokenCache, _ int) { c.TokenChanged("key-a") },
			func(a *TokenAuth) bool { return a.Status == TokenDisabled }},
		{"user disabled", func(db *gorm.DB, uid, _ int) {
			db.Model(&User{}).Where("id = ?", uid).Update("status", UserDisabled)
		}, func(c *TokenCache, uid int) { c.UserChanged(uid) },
			func(a *TokenAuth) bool { return a.UserStatus == UserDisabled }},
		{"user topped up", func(db *gorm.DB, uid, _ int) {
			db.Model(&User{}).Where("id = ?", uid).Update("quota", gorm.Expr("quota + ?", 1000))
		}, func(c *TokenCache, uid int) { c.UserChanged(uid) },
			func(a *TokenAuth) bool { return a.UserQuota == 6000 }},
		{"user group changed", func(db *gorm.DB, uid, _ int) {
			db.Model(&User{}).Where("id = ?", uid).Update("group", "vip")
		}, func(c *TokenCache, uid int) { c.UserChanged(uid) },
			func(a *TokenAuth) bool { return a.Group == "vip" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, st, queries := newTestTokenCache(t)
			uid, tids := seedUserTokens(t, st.db, "alice", 5000, "key-a", "key-b")
			seedUserTokens(t, st.db, "bob", 5000, "key-bob")
			for _, k := range []string{"key-a", "key-b", "key-bob"} {
				mustAuth(t, c, k)
			}
			tc.change(st.db, uid, tids[0])
			if tc.check(mustAuth(t, c, "key-a")) {
				t.Fatal("change visible before invalidation: the test proves nothing")
			}
			tc.invalidate(c, uid)
			if a := mustAuth(t, c, "key-a"); !tc.check(a) {
				t.Errorf("after invalidation: %+v", a)
			}
			queries.Store(0)
			mustAuth(t, c, "key-bob")
			if g := queries.Load(); g != 0 {
				t.Errorf("another user's token was reloaded (%d queries)", g)
			}
		})
	}
}

func TestTokenCacheUserChangedDropsAllTheirTokens(t *testing.T) {
	c, st, queries := newTestTokenCache(t)
	uid, _ := seedUserTokens(t, st.db, "alice", 5000, "key-a", "key-b", "key-c")
	for _, k := range []string{"key-a", "key-b", "key-c"} {
		mustAuth(t, c, k)
	}
	queries.Store(0)
	c.UserChanged(uid)
	for _, k := range []string{"key-a", "key-b", "key-c"} {
		mustAuth(t, c, k)
	}
	if g := queries.Load(); g != 3 {
		t.Errorf("%d queries after UserChanged, want 3 (every token of the user reloaded)", g)
	}
}

func TestTokenCacheNegative(t *testing.T) { synctest.Test(t, testTokenCacheNegative) }

func testTokenCacheNegative(t *testing.T) {
	st := openPhaseBStore(t)
	queries := countStatements(t, st.db)
	c := NewTokenCache(st, common.CacheConfig{TTL: 60 * time.Second})

	for range 50 {
		if _, err := c.GetTokenAuth(context.Background(), "guess"); !errors.Is(err, ErrTokenNotFound) {
			t.Fatalf("err = %v, want ErrTokenNotFound", err)
		}
	}
	if g := queries.Load(); g != 1 {
		t.Errorf("50 lookups of an unknown key made %d queries, want 1", g)
	}
	if s := c.Stats(); s.NegativeHits != 49 {
		t.Errorf("negative hits = %d, want 49", s.NegativeHits)
	}
	// The key is created (on another node: no invalidation here): it works
	// once the negative entry is 5 s old.
	seedUserTokens(t, st.db, "alice", 5000, "guess")
	time.Sleep(4 * time.Second)
	if _, err := c.GetTokenAuth(context.Background(), "guess"); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("at 4 s: err = %v, want the cached ErrTokenNotFound", err)
	}
	time.Sleep(time.Second)
	mustAuth(t, c, "guess")
}

func TestTokenCacheNegativeTTLNeverExceedsTTL(t *testing.T) {
	synctest.Test(t, testTokenCacheNegativeTTLNeverExceedsTTL)
}

func testTokenCacheNegativeTTLNeverExceedsTTL(t *testing.T) {
	st := openPhaseBStore(t)
	c := NewTokenCache(st, common.CacheConfig{TTL: 2 * time.Second})
	if _, err := c.GetTokenAuth(context.Background(), "k"); !errors.Is(err, ErrTokenNotFound) {
		t.Fatal(err)
	}
	seedUserTokens(t, st.db, "alice", 5000, "k")
	time.Sleep(2 * time.Second)
	mustAuth(t, c, "k")
}

// blockingStore answers after release is closed, or fails with its caller's
// context.
type blockingStore struct {
	calls   atomic.Int64
	started chan struct{}
	release chan struct{}
	auth    TokenAuth
}

func (s *blockingStore) GetTokenAuth(ctx context.Context, key string) (*TokenAuth, error) {
	s.calls.Add(1)
	s.started <- struct{}{}
	select {
	case <-s.release:
		a := s.auth
		return &a, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func newBlockingStore() *blockingStore {
	return &blockingStore{started: make(chan struct{}, 100), release: make(chan struct{}),
		auth: TokenAuth{TokenID: 1, UserID: 7, Status: TokenEnabled}}
}

func TestTokenCacheConcurrentMissesShareOneQuery(t *testing.T) {
	store := newBlockingStore()
	c := NewTokenCache(store, common.CacheConfig{TTL: time.Minute})
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if a, err := c.GetTokenAuth(context.Background(), "k"); err != nil || a.UserID != 7 {
				errs <- fmt.Errorf("got %+v, %v", a, err)
			}
		})
	}
	<-store.started
	for c.Stats().Shared < n-1 {
		runtime.Gosched() // until every other caller waits on the one query
	}
	close(store.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if g := store.calls.Load(); g != 1 {
		t.Errorf("%d concurrent misses made %d queries, want 1", n, g)
	}
}

func TestTokenCacheLoadRacingInvalidationIsNotCached(t *testing.T) {
	store := newBlockingStore()
	c := NewTokenCache(store, common.CacheConfig{TTL: time.Minute})
	done := make(chan struct{})
	go func() {
		defer close(done)
		mustAuth(t, c, "k")
	}()
	<-store.started
	c.TokenChanged("k") // the admin changed it while the old row was being read
	close(store.release)
	<-done
	mustAuth(t, c, "k") // release is closed: a second query answers at once
	if g := store.calls.Load(); g != 2 {
		t.Errorf("queries = %d, want 2: a load that raced an invalidation must not be cached", g)
	}
}

func TestTokenCacheWaiterOutlivesLeader(t *testing.T) {
	store := newBlockingStore()
	c := NewTokenCache(store, common.CacheConfig{TTL: time.Minute})
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, err := c.GetTokenAuth(leaderCtx, "k")
		leader <- err
	}()
	<-store.started
	waiter := make(chan error, 1)
	go func() {
		_, err := c.GetTokenAuth(context.Background(), "k")
		waiter <- err
	}()
	for c.Stats().Shared < 1 {
		runtime.Gosched()
	}
	cancelLeader() // the first client hangs up mid-query
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader err = %v, want context.Canceled", err)
	}
	select {
	case <-store.started: // the waiter asks again for itself
	case err := <-waiter:
		t.Fatalf("waiter returned %v with the leader's failure instead of asking again", err)
	}
	close(store.release)
	if err := <-waiter; err != nil {
		t.Errorf("waiter err = %v, want its own answer", err)
	}
}

func TestTokenCacheConcurrent(t *testing.T) {
	c, st, _ := newTestTokenCache(t)
	var keys []string
	uids := make([]int, 4)
	for u := range uids {
		ks := []string{fmt.Sprintf("k%d-0", u), fmt.Sprintf("k%d-1", u)}
		uids[u], _ = seedUserTokens(t, st.db, fmt.Sprintf("user%d", u), 100, ks...)
		keys = append(keys, ks...)
	}
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 50 {
				switch k := keys[(g+i)%len(keys)]; {
				case i%17 == 0:
					c.UserChanged(uids[g%len(uids)])
				case i%13 == 0:
					c.TokenChanged(k)
				default:
					if _, err := c.GetTokenAuth(context.Background(), k); err != nil {
						t.Errorf("GetTokenAuth(%s): %v", k, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if s := c.Stats(); s.Hits == 0 || s.Loads == 0 {
		t.Errorf("stats = %+v, want both hits and loads", s)
	}
}

func BenchmarkTokenCacheHit(b *testing.B) {
	st := openPhaseBStore(b)
	seedUserTokens(b, st.db, "alice", 5000, "key-a")
	c := NewTokenCache(st, common.CacheConfig{TTL: time.Minute})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetTokenAuth(ctx, "key-a"); err != nil {
			b.Fatal(err)
		}
	}
}
