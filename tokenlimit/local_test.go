package tokenlimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The Local tests run in a testing/synctest bubble: its clock starts at
// 2000-01-01 00:00:00 UTC, a whole minute, and moves only by time.Sleep.

func allowN(l Limiter, id, limit, n int) int { return countAllowed(l, id, limit, n) }

func countAllowed(l Limiter, id, limit, n int) int {
	ok := 0
	for range n {
		if a, _ := l.Allow(context.Background(), id, limit); a {
			ok++
		}
	}
	return ok
}

func TestLocalSlidingWindow(t *testing.T) { synctest.Test(t, testLocalSlidingWindow) }

func testLocalSlidingWindow(t *testing.T) {
	l := NewLocal()
	const id, limit = 7, 10

	if got := allowN(l, id, limit, 15); got != limit {
		t.Fatalf("first minute: %d of 15 allowed, want %d", got, limit)
	}
	ok, retry := l.Allow(context.Background(), id, limit)
	if ok || retry != 61*time.Second {
		t.Errorf("over the limit at the window start: ok=%v retry=%s, want refused, retry 61s", ok, retry)
	}
	// Other tokens and unlimited tokens are not affected.
	if got := allowN(l, id+1, limit, limit); got != limit {
		t.Errorf("another token: %d allowed, want %d", got, limit)
	}
	if got := allowN(l, id, 0, 100); got != 100 {
		t.Errorf("limit 0: %d of 100 allowed, want all", got)
	}

	// 30 s into the next minute the previous 10 weigh 5: 5 more fit.
	time.Sleep(90 * time.Second)
	if got := allowN(l, id, limit, 10); got != 5 {
		t.Errorf("half a minute later: %d allowed, want 5", got)
	}
	// Now prev 10 (weight 0.5) + cur 5 = 10: refused until the weight of
	// prev drops below 0.5, i.e. at once a moment later; then one fits.
	time.Sleep(6 * time.Second) // prev weighs 0.4: 4 + 5 = 9
	if got := allowN(l, id, limit, 5); got != 1 {
		t.Errorf("36 s in: %d allowed, want 1", got)
	}

	// Two idle minutes forget everything.
	time.Sleep(2 * time.Minute)
	if got := allowN(l, id, limit, 15); got != limit {
		t.Errorf("after two idle minutes: %d allowed, want %d", got, limit)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name             string
		prev, cur, limit int64
		elapsed, want    time.Duration
	}{
		{"full current window at its start", 0, 10, 10, 0, 61 * time.Second},
		{"full current window, 45 s in", 0, 10, 10, 45 * time.Second, 16 * time.Second},
		{"previous window still weighs", 10, 5, 10, 24 * time.Second, 7 * time.Second},
		{"part of a second", 10, 5, 10, 29500 * time.Millisecond, time.Second},
		{"never under a second", 10, 5, 10, 30 * time.Second, time.Second},
		{"limit lowered under the count", 0, 20, 10, 0, 91 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryAfter(tc.prev, tc.cur, tc.limit, tc.elapsed); got != tc.want {
				t.Errorf("retryAfter(%d, %d, %d, %s) = %s, want %s", tc.prev, tc.cur, tc.limit, tc.elapsed, got, tc.want)
			}
		})
	}
}

// A refused request waits exactly as long as Retry-After says: at the
// promised time one request fits, a second before it none does.
func TestLocalRetryAfterIsHonest(t *testing.T) { synctest.Test(t, testLocalRetryAfterIsHonest) }

func testLocalRetryAfterIsHonest(t *testing.T) {
	time.Sleep(20 * time.Second)
	l := NewLocal()
	const id, limit = 1, 6
	if got := allowN(l, id, limit, 10); got != limit {
		t.Fatalf("%d allowed, want %d", got, limit)
	}
	ok, retry := l.Allow(context.Background(), id, limit)
	if retry != 41*time.Second {
		t.Errorf("retry = %s, want 41s (the window ends in 40 s, and then the 6 still weigh 6)", retry)
	}
	if ok {
		t.Fatal("allowed over the limit")
	}
	time.Sleep(retry - time.Second)
	if ok, _ := l.Allow(context.Background(), id, limit); ok {
		t.Errorf("allowed a second before Retry-After (%s)", retry)
	}
	time.Sleep(time.Second)
	if ok, _ := l.Allow(context.Background(), id, limit); !ok {
		t.Errorf("refused at Retry-After (%s)", retry)
	}
}

// Concurrent callers never get more than the limit through.
func TestLocalConcurrentExact(t *testing.T) { synctest.Test(t, testLocalConcurrentExact) }

func testLocalConcurrentExact(t *testing.T) {
	l := NewLocal()
	const limit = 500
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			allowed.Add(int64(countAllowed(l, 3, limit, 100)))
		}()
	}
	wg.Wait()
	if g := allowed.Load(); g != limit {
		t.Errorf("1600 concurrent requests: %d allowed, want exactly %d", g, limit)
	}
}

// Idle tokens' slots are freed so that memory follows the active tokens.
func TestLocalSweepsIdleTokens(t *testing.T) { synctest.Test(t, testLocalSweepsIdleTokens) }

func testLocalSweepsIdleTokens(t *testing.T) {
	l := NewLocal()
	for id := range 100 {
		l.Allow(context.Background(), id, 5)
	}
	time.Sleep(sweepEvery + time.Second)
	l.Allow(context.Background(), 1000, 5) // a new token triggers the sweep
	n := 0
	l.slots.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Errorf("slots after the sweep = %d, want 1 (the new token)", n)
	}
}

// BenchmarkLocalAllowParallel is the relay's cost of a limited token: one
// map read and one compare-and-swap, no lock, no allocation. Each goroutine
// uses its own token (the common case) and, in the shared variant, all hit
// one token (the worst case for the compare-and-swap).
func BenchmarkLocalAllowParallel(b *testing.B) {
	for _, shared := range []bool{false, true} {
		name := "own-token"
		if shared {
			name = "one-token"
		}
		b.Run(name, func(b *testing.B) {
			l := NewLocal()
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				id := int(next.Add(1)) + 1000
				if shared {
					id = 1
				}
				ctx := context.Background()
				for pb.Next() {
					l.Allow(ctx, id, MaxLimit)
				}
			})
		})
	}
}
