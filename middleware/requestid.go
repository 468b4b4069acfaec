// Package middleware holds the gin middleware shared by the admin API and
// the relay: request ids, panic recovery, the request body limit, admin
// authentication and per-IP rate limits. Errors are answered in the format
// of the path: OpenAI's error object under /v1, one-api's envelope elsewhere.
package middleware

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/common"
)

// ctxKey types the values this package puts in a request's context.
type ctxKey int

const (
	requestIDKey ctxKey = iota
	principalKey
)

// idPrefix tells this process's ids from those of an earlier run that used
// the same second and counter values.
var (
	idPrefix  = common.RandomString(4)
	idCounter atomic.Uint64
)

// AssignRequestID gives every request an id, stores it in the request
// context (read it with RequestID) and sends it in RequestIDHeader
// (X-Oneapi-Request-Id, declared in token_auth.go).
func AssignRequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := newRequestID(time.Now())
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestIDKey, id))
		c.Writer.Header().Set(RequestIDHeader, id)
		c.Next()
	}
}

// RequestID returns the id AssignRequestID gave the request, or "" outside
// one. ctx may be the *gin.Context itself or the request's context.
func RequestID(ctx context.Context) string {
	id, _ := requestContext(ctx).Value(requestIDKey).(string)
	return id
}

// requestContext unwraps a *gin.Context, whose Value only reaches the
// request context when the engine has ContextWithFallback set.
func requestContext(ctx context.Context) context.Context {
	if c, ok := ctx.(*gin.Context); ok && c.Request != nil {
		return c.Request.Context()
	}
	return ctx
}

// newRequestID is the one-api style timestamp (so ids sort and show when a
// request came) followed by a per-process prefix and a counter: unique
// without a random read per request. 24 characters.
func newRequestID(now time.Time) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	var buf [24]byte
	b := now.AppendFormat(buf[:0], "20060102150405")
	b = append(b, idPrefix...)
	n := idCounter.Add(1)
	var tail [6]byte
	for i := len(tail) - 1; i >= 0; i-- {
		tail[i] = digits[n%36]
		n /= 36
	}
	b = append(b, tail[:]...)
	return string(b)
}
