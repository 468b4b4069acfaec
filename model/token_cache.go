package model

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patrickmn/go-cache"

	"one-api/common"
)

// maxNegativeTTL caps how long an unknown key is remembered: long enough that
// a client guessing or replaying a bad key costs one query per key per few
// seconds, short enough that a token created on another node works almost at
// once.
const maxNegativeTTL = 5 * time.Second

// TokenCache is a TokenStore that remembers what another TokenStore answered
// (key → token and owner facts) for LOCAL_CACHE_TTL, so that a hit reads no
// database at all. It is also the Invalidator the admin API tells about
// changes on this node, which take effect on the next lookup.
//
// The cached RemainQuota and UserQuota are a snapshot, stale by design: any
// check of them at authentication is advisory. The QuotaLedger is what
// enforces quota (Reserve refuses when the balance is short).
//
// Storage is go-cache; expiry is judged against a deadline kept in the
// entry (tests run in a testing/synctest bubble to move time). go-cache's
// janitor goroutine is not used (it can be neither stopped nor waited for);
// expired entries are swept on the miss path instead, at most once per TTL.
type TokenCache struct {
	next   TokenStore
	ttl    time.Duration
	negTTL time.Duration
	items  *cache.Cache // key → *tokenEntry

	mu sync.Mutex
	// gen counts invalidations: a load that began before one is returned to
	// its callers but not cached, since it may predate the change.
	gen       uint64
	byUser    map[int]map[string]struct{} // so UserChanged finds the user's keys
	loading   map[string]*tokenLoad       // concurrent misses of one key share one query
	nextSweep time.Time

	hits, negHits, misses, loads, shared atomic.Int64
}

type tokenEntry struct {
	auth    *TokenAuth // nil: the key is unknown
	expires time.Time
}

type tokenLoad struct {
	done chan struct{}
	auth *TokenAuth
	err  error
}

// TokenCacheStats are the cache's counters, for metrics.
type TokenCacheStats struct {
	Hits         int64 // answered from memory with a token
	NegativeHits int64 // answered from memory with ErrTokenNotFound
	Misses       int64 // not in memory (or expired)
	Loads        int64 // queries sent to the wrapped store
	Shared       int64 // misses that waited for another caller's query of the same key
	Entries      int   // entries held, including expired ones not yet swept
}

// NewTokenCache caches next's answers for cfg.TTL (LOCAL_CACHE_TTL), and
// unknown keys for min(TTL, 5 s). It has nothing else to tune.
func NewTokenCache(next TokenStore, cfg common.CacheConfig) *TokenCache {
	ttl := cfg.TTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	return &TokenCache{
		next: next, ttl: ttl, negTTL: min(ttl, maxNegativeTTL),
		items:     cache.New(ttl, 0),
		byUser:    make(map[int]map[string]struct{}),
		loading:   make(map[string]*tokenLoad),
		nextSweep: time.Now().Add(ttl),
	}
}

// GetTokenAuth implements TokenStore. The caller gets its own copy.
func (c *TokenCache) GetTokenAuth(ctx context.Context, key string) (*TokenAuth, error) {
	if v, ok := c.items.Get(key); ok {
		e := v.(*tokenEntry)
		if time.Now().Before(e.expires) {
			if e.auth == nil {
				c.negHits.Add(1)
				return nil, ErrTokenNotFound
			}
			c.hits.Add(1)
			return copyAuth(e.auth), nil
		}
	}
	c.misses.Add(1)
	return c.load(ctx, key)
}

func (c *TokenCache) load(ctx context.Context, key string) (*TokenAuth, error) {
	for {
		c.mu.Lock()
		if l, ok := c.loading[key]; ok {
			c.mu.Unlock()
			c.shared.Add(1)
			select {
			case <-l.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			// The leader's client hung up mid-query: ours has not, so ask again.
			if isContextErr(l.err) && ctx.Err() == nil {
				continue
			}
			return copyAuth(l.auth), l.err
		}
		l := &tokenLoad{done: make(chan struct{})}
		c.loading[key] = l
		gen := c.gen
		c.mu.Unlock()

		c.loads.Add(1)
		l.auth, l.err = c.next.GetTokenAuth(ctx, key)

		c.mu.Lock()
		if c.loading[key] == l {
			delete(c.loading, key)
		}
		if c.gen == gen {
			c.storeLocked(key, l.auth, l.err)
		}
		c.mu.Unlock()
		close(l.done)
		return copyAuth(l.auth), l.err
	}
}

// storeLocked caches a found token or an unknown key; any other error (the
// database is down) is not an answer worth remembering.
func (c *TokenCache) storeLocked(key string, auth *TokenAuth, err error) {
	now := time.Now()
	switch {
	case err == nil:
		c.items.Set(key, &tokenEntry{auth: auth, expires: now.Add(c.ttl)}, c.ttl)
		keys := c.byUser[auth.UserID]
		if keys == nil {
			keys = make(map[string]struct{})
			c.byUser[auth.UserID] = keys
		}
		keys[key] = struct{}{}
	case errors.Is(err, ErrTokenNotFound):
		c.items.Set(key, &tokenEntry{expires: now.Add(c.negTTL)}, c.negTTL)
	}
	if now.After(c.nextSweep) {
		c.sweepLocked()
		c.nextSweep = now.Add(c.ttl)
	}
}

// sweepLocked frees expired entries and the index lines pointing at them.
func (c *TokenCache) sweepLocked() {
	c.items.DeleteExpired()
	for uid, keys := range c.byUser {
		for k := range keys {
			if _, ok := c.items.Get(k); !ok {
				delete(keys, k)
			}
		}
		if len(keys) == 0 {
			delete(c.byUser, uid)
		}
	}
}

// TokenChanged implements Invalidator: the key's next lookup reads the store.
// Call it on token create, update, disable and delete.
func (c *TokenCache) TokenChanged(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if v, ok := c.items.Get(key); ok {
		if e := v.(*tokenEntry); e.auth != nil {
			delete(c.byUser[e.auth.UserID], key)
		}
	}
	c.items.Delete(key)
	delete(c.loading, key)
}

// UserChanged implements Invalidator: every token of the user is read again
// on its next lookup. Call it on user update, disable, delete, top-up and
// group or role change.
func (c *TokenCache) UserChanged(userID int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k := range c.byUser[userID] {
		c.items.Delete(k)
	}
	delete(c.byUser, userID)
	// The user's keys now being loaded are unknown here: let lookups that
	// start from now on query afresh rather than join a load that may
	// predate the change.
	clear(c.loading)
}

// Stats returns the counters.
func (c *TokenCache) Stats() TokenCacheStats {
	return TokenCacheStats{
		Hits: c.hits.Load(), NegativeHits: c.negHits.Load(), Misses: c.misses.Load(),
		Loads: c.loads.Load(), Shared: c.shared.Load(), Entries: c.items.ItemCount(),
	}
}

func copyAuth(a *TokenAuth) *TokenAuth {
	if a == nil {
		return nil
	}
	cp := *a
	return &cp
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
