package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"one-api/common"
	"one-api/model"
)

// Redis is the Batch ledger made correct across several gateway nodes:
// the live balance of each user and token is one Redis counter shared by
// every node, checked and moved atomically by Reserve (a Lua script) and
// moved by every Settle and Release (INCRBY), while the database writes stay
// batched per node as relative deltas (col = col + ?) by the Batch it
// wraps. Without it each node would check its own in-memory balance, and N
// nodes could spend up to N times a balance.
//
// A counter is created on first use from the database plus this node's
// unflushed deltas (SET NX, so the first node wins) and expires after
// balanceTTL without movement. It therefore holds the database value plus
// every node's unflushed deltas. The one case where it cannot: a counter
// lost while nodes hold unflushed deltas (Redis restarted or flushed) is
// re-created from the database, off by at most one flush interval of the
// other nodes' movements on that account.
//
// When Redis fails, Reserve falls back to the Batch's local check (the
// gateway keeps serving) and the accounts it moved are re-read into Redis
// once it answers again.
type Redis struct {
	batch  *Batch
	rdb    redis.Cmdable
	prefix string

	mu    sync.Mutex
	stale map[string]struct{} // counters that missed a movement while Redis failed

	inits, fallbacks atomic.Int64
}

// balanceTTL is how long an idle counter lives. It must be far longer than
// any flush interval: a counter that expires while a node still holds
// unflushed deltas for it is re-created without them.
const balanceTTL = time.Hour

// redisOpTimeout bounds one Redis round trip on the request path, so a hung
// Redis turns into the local fallback instead of a hung request.
const redisOpTimeout = 2 * time.Second

// Reserve results of reserveScript.
const (
	reserveOK          = 0
	reserveUserShort   = 1
	reserveTokenShort  = 2
	reserveUserAbsent  = 3
	reserveTokenAbsent = 4
)

// reserveScript checks both balances before moving either, with the same
// conditions as Direct's WHERE quota >= ? AND quota > 0.
// KEYS: user counter[, token counter]; ARGV: amount, ttl ms.
var reserveScript = redis.NewScript(`
local a = tonumber(ARGV[1])
local u = redis.call('GET', KEYS[1])
if not u then return 3 end
u = tonumber(u)
local t
if #KEYS > 1 then
  t = redis.call('GET', KEYS[2])
  if not t then return 4 end
  t = tonumber(t)
end
if u < a or u <= 0 then return 1 end
if t and (t < a or t <= 0) then return 2 end
for _, k in ipairs(KEYS) do
  redis.call('DECRBY', k, a)
  redis.call('PEXPIRE', k, ARGV[2])
end
return 0`)

// moveScript adds ARGV[1] to every counter that exists. A missing one is
// left missing: it is created from the database (which the batch will
// hold) on its next use, and INCRBY would create it at the delta alone.
var moveScript = redis.NewScript(`
for _, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then
    redis.call('INCRBY', k, ARGV[1])
    redis.call('PEXPIRE', k, ARGV[2])
  end
end
return 0`)

// setScript sets a counter to ARGV[1] and returns what that added (new −
// old), or nil when the counter does not exist.
var setScript = redis.NewScript(`
local old = redis.call('GET', KEYS[1])
if not old then return false end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return tonumber(ARGV[1]) - tonumber(old)`)

// RedisOptions configure a Redis ledger.
type RedisOptions struct {
	// Prefix starts every key (for example "oneapi:"), so that several
	// gateways can share one Redis.
	Prefix string
}

// NewRedis puts batch's balances in Redis. It registers the callbacks Apply
// needs on batch's database.
func NewRedis(batch *Batch, rdb redis.Cmdable, o RedisOptions) (*Redis, error) {
	l := &Redis{batch: batch, rdb: rdb, prefix: o.Prefix, stale: make(map[string]struct{})}
	if err := registerQuotaWatch(batch.db); err != nil {
		return nil, err
	}
	return l, nil
}

// key is an account's counter: <prefix>quota:user:<id> or
// <prefix>quota:token:<id>.
func (l *Redis) key(id accountID) string {
	return l.prefix + "quota:" + id.kind.table().label + ":" + strconv.Itoa(id.id)
}

func (l *Redis) keys(r model.Reservation) []string {
	ids, n := accounts(r)
	keys := make([]string, n)
	for i, id := range ids[:n] {
		keys[i] = l.key(id)
	}
	return keys
}

// Reserve implements model.QuotaLedger.
func (l *Redis) Reserve(ctx context.Context, r model.Reservation) error {
	keys := l.keys(r)
	if err := l.dropStale(ctx, keys); err != nil {
		return l.fallbackReserve(ctx, r, err)
	}
	// A counter can vanish between its creation and the script (expiry,
	// FLUSHDB); a few rounds settle it.
	for range 4 {
		rctx, cancel := context.WithTimeout(ctx, redisOpTimeout)
		res, err := reserveScript.Run(rctx, l.rdb, keys, r.Amount, balanceTTL.Milliseconds()).Int()
		cancel()
		if err != nil {
			return l.fallbackReserve(ctx, r, err)
		}
		switch res {
		case reserveOK:
			if err := l.batch.hold(ctx, r); err != nil {
				l.move(context.WithoutCancel(ctx), keys, r.Amount)
				return err
			}
			return nil
		case reserveUserShort:
			return model.ErrUserQuotaExhausted
		case reserveTokenShort:
			return model.ErrTokenQuotaExhausted
		case reserveUserAbsent:
			err = l.init(ctx, keys[0], accountID{userKind, r.UserID})
		case reserveTokenAbsent:
			err = l.init(ctx, keys[1], accountID{tokenKind, r.TokenID})
		default:
			return fmt.Errorf("reserve quota: unexpected script result %d", res)
		}
		if err != nil {
			var re redisError
			if errors.As(err, &re) {
				return l.fallbackReserve(ctx, r, err)
			}
			return err
		}
	}
	return errors.New("reserve quota: balance counters keep disappearing from Redis")
}

// Settle implements model.QuotaLedger.
func (l *Redis) Settle(ctx context.Context, s model.Settlement) error {
	if err := l.batch.Settle(ctx, s); err != nil {
		return err
	}
	if d := s.Quota - s.Amount; d != 0 {
		l.move(ctx, l.keys(s.Reservation), -d)
	}
	return nil
}

// Release implements model.QuotaLedger.
func (l *Redis) Release(ctx context.Context, r model.Reservation) error {
	if r.Amount == 0 {
		return nil
	}
	if err := l.batch.Release(ctx, r); err != nil {
		return err
	}
	l.move(ctx, l.keys(r), r.Amount)
	return nil
}

// redisError marks a failure of Redis itself (as opposed to the database),
// which Reserve answers with the local fallback.
type redisError struct{ err error }

func (e redisError) Error() string { return "redis: " + e.err.Error() }
func (e redisError) Unwrap() error { return e.err }

// init creates a missing counter from the database plus this node's
// unflushed deltas. Under the batch's flushMu (exactBalance) no deltas are
// in flight, so the two add up exactly; SET NX lets the first node's value
// stand.
func (l *Redis) init(ctx context.Context, key string, id accountID) error {
	return l.batch.exactBalance(ctx, id, func(v int64) error {
		rctx, cancel := context.WithTimeout(ctx, redisOpTimeout)
		defer cancel()
		if err := l.rdb.SetNX(rctx, key, v, balanceTTL).Err(); err != nil {
			return redisError{err}
		}
		l.inits.Add(1)
		return nil
	})
}

// move adds delta to the counters; a failure marks them stale so they are
// re-read from the database once Redis answers again.
func (l *Redis) move(ctx context.Context, keys []string, delta int64) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisOpTimeout)
	defer cancel()
	if err := moveScript.Run(rctx, l.rdb, keys, delta, balanceTTL.Milliseconds()).Err(); err != nil {
		common.Warn("redis quota counters not moved (%v): re-read from the database once Redis answers", err)
		l.markStale(keys)
	}
}

// fallbackReserve checks the node's own in-memory balance when Redis fails:
// the gateway keeps serving, at the cost of per-node enforcement until Redis
// is back.
func (l *Redis) fallbackReserve(ctx context.Context, r model.Reservation, cause error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	l.fallbacks.Add(1)
	common.Warn("redis quota check failed, checking this node's balance instead: %v", cause)
	if err := l.batch.Reserve(ctx, r); err != nil {
		return err
	}
	l.markStale(l.keys(r))
	return nil
}

func (l *Redis) markStale(keys []string) {
	l.mu.Lock()
	for _, k := range keys {
		l.stale[k] = struct{}{}
	}
	l.mu.Unlock()
}

// dropStale deletes the counters among keys that missed a movement, so they
// are created again from the database with this node's deltas.
func (l *Redis) dropStale(ctx context.Context, keys []string) error {
	l.mu.Lock()
	var drop []string
	for _, k := range keys {
		if _, ok := l.stale[k]; ok {
			drop = append(drop, k)
		}
	}
	l.mu.Unlock()
	if len(drop) == 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, redisOpTimeout)
	defer cancel()
	if err := l.rdb.Del(rctx, drop...).Err(); err != nil {
		return err
	}
	l.mu.Lock()
	for _, k := range drop {
		delete(l.stale, k)
	}
	l.mu.Unlock()
	return nil
}

// Pending implements model.QuotaAdmin (the database rows lag as with Batch).
func (l *Redis) Pending(userID int) model.UserDelta { return l.batch.Pending(userID) }

// PendingToken implements model.QuotaAdmin.
func (l *Redis) PendingToken(tokenID int) model.TokenDelta { return l.batch.PendingToken(tokenID) }

// PendingChannel implements model.QuotaAdmin.
func (l *Redis) PendingChannel(channelID int) int64 { return l.batch.PendingChannel(channelID) }

// Forget implements model.QuotaAdmin. The shared counter already holds every
// movement, admin writes included (they go through Apply or Credit), so
// only the local fallback balance is dropped.
func (l *Redis) Forget(userID int) { l.batch.Forget(userID) }

// ForgetToken implements model.QuotaAdmin.
func (l *Redis) ForgetToken(tokenID int) { l.batch.ForgetToken(tokenID) }

// Flush writes this node's pending deltas now.
func (l *Redis) Flush(ctx context.Context) error { return l.batch.Flush(ctx) }

// Close flushes and stops the wrapped Batch.
func (l *Redis) Close(ctx context.Context) error { return l.batch.Close(ctx) }

// RedisStats are the ledger's counters, for metrics and tests.
type RedisStats struct {
	Inits     int64 // counters created from the database
	Fallbacks int64 // reservations checked locally because Redis failed
}

// Stats returns the counters.
func (l *Redis) Stats() RedisStats {
	return RedisStats{Inits: l.inits.Load(), Fallbacks: l.fallbacks.Load()}
}

var _ model.QuotaLedger = (*Redis)(nil)
