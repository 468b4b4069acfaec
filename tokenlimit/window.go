// Package tokenlimit enforces the optional per-token requests-per-minute
// limit (tokens.rpm_limit, beyond one-api) on the relay path.
//
// The window is a sliding-window counter (the approximation Cloudflare
// describes): the count of the current minute plus the previous minute's
// count weighted by the part of it still inside the last 60 seconds. It
// never lets a burst of twice the limit through at a minute boundary, as a
// fixed window would, and costs two counters per token instead of a log of
// timestamps.
//
// Local keeps the counters in process memory, lock-free (one atomic word per
// token); Redis keeps them in Redis so that every gateway node counts
// against one limit, and falls back to its Local while Redis fails.
package tokenlimit

import (
	"context"
	"math"
	"time"
)

// Window is the length of the rate window: the limit is per minute.
const Window = time.Minute

// MaxLimit is the highest limit a token may carry: counts are packed into 20
// bits of one word (see Local).
const MaxLimit = 1<<20 - 1

// Limiter decides whether one more request of a token fits its limit.
type Limiter interface {
	// Allow counts one request of token tokenID against limit requests
	// per minute. When it does not fit, nothing is counted, ok is false and
	// retryAfter says how long until one would fit.
	Allow(ctx context.Context, tokenID, limit int) (ok bool, retryAfter time.Duration)
}

// estimate is the sliding-window count: prev weighted by the part of the
// previous window still inside the last Window, plus cur. elapsed is how far
// into the current window now is.
func estimate(prev, cur int64, elapsed time.Duration) float64 {
	return float64(prev)*(1-float64(elapsed)/float64(Window)) + float64(cur)
}

// retryAfter is how long from elapsed (into the current window, whose counts
// are prev and cur) until estimate has dropped below limit, so that one more
// request fits: the first whole second strictly after that moment, since
// Retry-After is whole seconds and at the moment itself the estimate still
// equals the limit.
func retryAfter(prev, cur, limit int64, elapsed time.Duration) time.Duration {
	var wait time.Duration
	if cur >= limit {
		// Not before the next window, where cur becomes prev and must have
		// decayed below the limit: cur·(1−f) < limit.
		f := 1 - float64(limit)/float64(cur)
		wait = Window - elapsed + time.Duration(f*float64(Window))
	} else {
		// prev·(1−f) + cur < limit once f > 1 − (limit−cur)/prev.
		f := 1 - float64(limit-cur)/float64(prev)
		wait = time.Duration(f*float64(Window)) - elapsed
	}
	return time.Duration(math.Floor(max(wait, 0).Seconds())+1) * time.Second
}

// windowOf is the index of now's window and how far into it now is.
func windowOf(now time.Time) (index int64, elapsed time.Duration) {
	ns := now.UnixNano()
	return ns / int64(Window), time.Duration(ns % int64(Window))
}
