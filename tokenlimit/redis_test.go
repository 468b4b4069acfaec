package tokenlimit

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"one-api/common"
	"one-api/internal/testdb"
)

// testRedis connects to TEST_REDIS_URL (or skips) and returns a key prefix
// of the test's own, whose keys are deleted at cleanup.
// fakeClock is a settable clock. The Redis tests keep an injected clock
// rather than a synctest bubble: the server's key expiry runs on real time,
// which a bubble cannot move.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func newClock(t time.Time) *fakeClock    { c := &fakeClock{}; c.ns.Store(t.UnixNano()); return c }
func minuteStart() time.Time             { return time.Unix(1_700_000_040, 0) } // a whole minute

// testRedis connects to TEST_REDIS_URL (or skips) and returns a key prefix
// of the test's own, whose keys are deleted at cleanup.
func testRedis(t *testing.T) (*redis.Client, string) { return testdb.Redis(t) }

// Two nodes (two limiters on one Redis, each with its own connection and
// its own local fallback) share one limit: together they let exactly the
// limit through, even under concurrency, and both tell the refused client
// when to come back.
func TestRedisTwoNodesShareOneLimit(t *testing.T) {
	rdb1, prefix := testRedis(t)
	rdb2 := redis.NewClient(rdb1.Options())
	defer rdb2.Close()
	clock := newClock(minuteStart().Add(10 * time.Second))
	nodes := []*Redis{NewRedis(rdb1, prefix, NewLocalClock(clock.now)), NewRedis(rdb2, prefix, NewLocalClock(clock.now))}
	for _, n := range nodes {
		n.now = clock.now
	}
	const id, limit = 42, 30
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			allowed.Add(int64(countAllowed(nodes[w%2], id, limit, 10)))
		}()
	}
	wg.Wait()
	if g := allowed.Load(); g != limit {
		t.Fatalf("80 requests over two nodes: %d allowed, want exactly %d", g, limit)
	}
	for i, n := range nodes {
		ok, retry := n.Allow(context.Background(), id, limit)
		if ok || retry != 51*time.Second {
			t.Errorf("node %d over the limit: ok=%v retry=%s, want refused, retry 51s", i, ok, retry)
		}
		if f := n.Fallbacks(); f != 0 {
			t.Errorf("node %d fell back %d times with Redis up", i, f)
		}
	}
	// Another token has its own limit.
	if got := countAllowed(nodes[1], id+1, limit, limit); got != limit {
		t.Errorf("another token: %d allowed, want %d", got, limit)
	}
	// 30 s into the next minute the previous 30 weigh 15: 15 more fit, on
	// either node.
	clock.add(80 * time.Second)
	if got := countAllowed(nodes[0], id, limit, 10) + countAllowed(nodes[1], id, limit, 10); got != 15 {
		t.Errorf("half a minute into the next window: %d allowed, want 15", got)
	}
}

// With Redis down a node still limits, on its own count, and says so once.
func TestRedisFallsBackToLocal(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	var log strings.Builder
	restore := common.SetLogOutput(&log)
	defer restore()
	clock := newClock(minuteStart())
	r := NewRedis(rdb, "x:", NewLocalClock(clock.now))
	r.now = clock.now
	if got := countAllowed(r, 1, 3, 5); got != 3 {
		t.Errorf("Redis down: %d of 5 allowed, want 3 (the local count)", got)
	}
	if f := r.Fallbacks(); f != 5 {
		t.Errorf("fallbacks = %d, want 5", f)
	}
	if n := strings.Count(log.String(), "redis failed"); n != 1 {
		t.Errorf("warnings = %d, want 1 per minute:\n%s", n, log.String())
	}
}
