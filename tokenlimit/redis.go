package tokenlimit

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"one-api/common"
)

// opTimeout bounds the one Redis round trip a limited request costs: a hung
// Redis turns into the local fallback, not a hung request.
const opTimeout = time.Second

// keyTTL keeps a window's counter while it can still be the previous one.
const keyTTL = 3 * Window

// allowScript reads both windows' counts and counts the request in the
// current one only if the sliding estimate stays under the limit, in one
// atomic step. KEYS: current window's counter, previous window's counter.
// ARGV: limit, weight of the previous window, ttl ms. Returns {allowed
// (0/1), prev, cur}.
var allowScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
if prev * tonumber(ARGV[2]) + cur >= tonumber(ARGV[1]) then
  return {0, prev, cur}
end
cur = redis.call('INCR', KEYS[1])
if cur == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {1, prev, cur}
`)

// Redis is the Limiter shared by every gateway node: each token's window
// counters are Redis keys, moved by one script call per request of a
// limited token. Windows are cut by each node's own clock, so the nodes'
// clocks should agree to well under a second (NTP).
type Redis struct {
	rdb    redis.Scripter
	prefix string
	local  *Local
	now    func() time.Time

	lastWarn  atomic.Int64
	fallbacks atomic.Int64
}

// NewRedis counts in rdb under keys starting with prefix, and in local
// while Redis fails.
func NewRedis(rdb redis.Scripter, prefix string, local *Local) *Redis {
	return &Redis{rdb: rdb, prefix: prefix, local: local, now: time.Now}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, tokenID, limit int) (bool, time.Duration) {
	if limit <= 0 {
		return true, 0
	}
	idx, elapsed := windowOf(r.now())
	id := strconv.Itoa(tokenID)
	// The hash tag keeps both windows of a token in one Redis Cluster slot.
	base := r.prefix + "rpm:{" + id + "}:"
	keys := []string{base + strconv.FormatInt(idx, 10), base + strconv.FormatInt(idx-1, 10)}
	weight := 1 - float64(elapsed)/float64(Window)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	res, err := allowScript.Run(ctx, r.rdb, keys, limit, strconv.FormatFloat(weight, 'f', 6, 64), keyTTL.Milliseconds()).Int64Slice()
	if err == nil && len(res) != 3 {
		err = fmt.Errorf("script answered %v", res)
	}
	if err != nil {
		r.fallback(err)
		return r.local.Allow(ctx, tokenID, limit)
	}
	if res[0] == 1 {
		return true, 0
	}
	return false, retryAfter(res[1], res[2], int64(limit), elapsed)
}

// fallback notes a failed Redis call, warning at most once a minute.
func (r *Redis) fallback(err error) {
	r.fallbacks.Add(1)
	now := r.now().UnixNano()
	last := r.lastWarn.Load()
	if now-last >= int64(time.Minute) && r.lastWarn.CompareAndSwap(last, now) {
		common.Warn("token rate limit: redis failed, counting on this node only: %v", err)
	}
}

// Fallbacks is how many requests were counted locally because Redis failed.
func (r *Redis) Fallbacks() int64 { return r.fallbacks.Load() }
