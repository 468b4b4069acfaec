package middleware

import (
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/gin-gonic/gin"

	"one-api/common"
)

// Recover turns a panic in a later handler into a 500 in the path's error
// format and logs it, with its stack, on one journal line.
// http.ErrAbortHandler passes through: a handler raises it to cut a broken
// stream, and net/http handles it quietly.
func Recover() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			common.Error("panic: %v | request id %s | %s %s | stack: %s",
				v, RequestID(c), c.Request.Method, c.Request.URL.Path, oneLine(debug.Stack()))
			if c.Writer.Written() {
				// Too late for a status: end the response where it is.
				c.Abort()
				return
			}
			abortError(c, http.StatusInternalServerError, "internal_error", "internal server error")
		}()
		c.Next()
	}
}

// oneLine folds a stack trace onto one line so journald keeps it together.
func oneLine(stack []byte) string {
	lines := strings.Split(strings.TrimSpace(string(stack)), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, " | ")
}

// envelope is one-api's admin API answer ({success, message, data}).
type envelope struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

// isRelayPath reports whether path is answered in OpenAI's format.
func isRelayPath(path string) bool {
	return path == "/v1" || strings.HasPrefix(path, "/v1/")
}

// abortError ends the request with status and msg in the path's format:
// OpenAI's error object (type one_api_error, code) under /v1, the envelope
// elsewhere.
func abortError(c *gin.Context, status int, code, msg string) {
	if AnthropicPath(c.Request.URL.Path) {
		AbortAnthropic(c, status, "", msg+" (request id: "+RequestID(c)+")")
		return
	}
	if isRelayPath(c.Request.URL.Path) {
		c.AbortWithStatusJSON(status, OpenAIError{Error: OpenAIErrorBody{
			Message: msg + " (request id: " + RequestID(c) + ")",
			Type:    "one_api_error",
			Code:    code,
		}})
		return
	}
	c.AbortWithStatusJSON(status, envelope{Message: msg})
}
