package middleware

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
)

// BodyLimit refuses request bodies over max bytes with 413: at once when
// Content-Length says so, otherwise when a handler reads past the limit
// (the read fails with *http.MaxBytesError; answer it with BodyTooLarge).
func BodyLimit(max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			abortTooLarge(c, max)
			return
		}
		if c.Request.Body != nil && c.Request.Body != http.NoBody {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		}
		c.Next()
	}
}

// BodyTooLarge answers 413 and returns true when err came from reading past
// the BodyLimit; otherwise it does nothing and returns false.
func BodyTooLarge(c *gin.Context, err error) bool {
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		return false
	}
	abortTooLarge(c, mbe.Limit)
	return true
}

func abortTooLarge(c *gin.Context, max int64) {
	abortError(c, http.StatusRequestEntityTooLarge, "request_body_too_large",
		fmt.Sprintf("request body too large: the limit is %s (MAX_REQUEST_BODY_MB)", sizeText(max)))
}

func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
