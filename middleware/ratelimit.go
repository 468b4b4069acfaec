package middleware

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// RateLimit admits limit requests per window from each client IP (gin's
// ClientIP, so configure trusted proxies) and answers 429 beyond. limit <= 0
// disables it: the returned handler only calls the next one.
func RateLimit(limit int, window time.Duration) gin.HandlerFunc {
	if limit <= 0 {
		return func(c *gin.Context) { c.Next() }
	}
	l := newIPLimiter(limit, window, time.Now)
	return func(c *gin.Context) {
		if wait := l.reserve(c.ClientIP()); wait > 0 {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			abortError(c, http.StatusTooManyRequests, "rate_limited", "too many requests, try again later")
			return
		}
		c.Next()
	}
}

// ipLimiter is a token bucket per IP: a burst of limit, refilled at
// limit/window. A bucket idle for a whole window is full again, exactly like
// a new one, so it is dropped: memory holds only the IPs seen in the last
// window or two. Sweeping happens inline, at most once per window, so there
// is no goroutine to own.
type ipLimiter struct {
	limit  int
	window time.Duration
	every  rate.Limit
	now    func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	nextSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(limit int, window time.Duration, now func() time.Time) *ipLimiter {
	return &ipLimiter{
		limit: limit, window: window, now: now,
		every:     rate.Limit(float64(limit) / window.Seconds()),
		buckets:   map[string]*bucket{},
		nextSweep: now().Add(window),
	}
}

// reserve takes one request from ip's bucket; it returns 0 when admitted,
// otherwise how long until the next request would be.
func (l *ipLimiter) reserve(ip string) time.Duration {
	now := l.now()
	l.mu.Lock()
	if !now.Before(l.nextSweep) {
		for k, b := range l.buckets {
			if now.Sub(b.seen) >= l.window {
				delete(l.buckets, k)
			}
		}
		l.nextSweep = now.Add(l.window)
	}
	b := l.buckets[ip]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.every, l.limit)}
		l.buckets[ip] = b
	}
	b.seen = now
	l.mu.Unlock()

	r := b.lim.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		// Refused requests do not count against the client.
		r.CancelAt(now)
		return wait
	}
	return 0
}
