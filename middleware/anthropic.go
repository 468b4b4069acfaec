package middleware

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// Anthropic's Messages API (/v1/messages) is served in Anthropic's dialect:
// its SDK and Claude Code parse {"type":"error","error":{"type","message"}}
// and nothing else, so every refusal on those paths, from token auth to an
// upstream failure, takes that shape. Every other /v1 path keeps OpenAI's.

// AnthropicPath reports whether path is answered in Anthropic's dialect.
func AnthropicPath(path string) bool {
	return path == "/v1/messages" || strings.HasPrefix(path, "/v1/messages/")
}

// AnthropicError is the body of an error answer in Anthropic's dialect.
type AnthropicError struct {
	Type  string             `json:"type"` // always "error"
	Error AnthropicErrorBody `json:"error"`
}

// AnthropicErrorBody is Anthropic's error object.
type AnthropicErrorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// anthropicTypes are the error types Anthropic documents; a type from
// elsewhere (one_api_error, upstream_error) is replaced by the one that
// matches the status, so that SDKs map it to their typed errors.
var anthropicTypes = map[string]bool{
	"invalid_request_error": true, "authentication_error": true, "billing_error": true,
	"permission_error": true, "not_found_error": true, "request_too_large": true,
	"rate_limit_error": true, "api_error": true, "timeout_error": true, "overloaded_error": true,
}

// AnthropicErrorType is Anthropic's error type for an HTTP status.
func AnthropicErrorType(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	return "api_error"
}

// NewAnthropicError builds the error body. The status decides the type
// where Anthropic documents one for it (a 404 is not_found_error even when
// the gateway's OpenAI error called it invalid_request_error); typ is kept
// only for statuses without one, and only when it is one of Anthropic's.
func NewAnthropicError(status int, typ, msg string) AnthropicError {
	if t := AnthropicErrorType(status); t != "api_error" || !anthropicTypes[typ] {
		typ = t
	}
	return AnthropicError{Type: "error", Error: AnthropicErrorBody{Type: typ, Message: msg}}
}

// AbortAnthropic ends the request with an error in Anthropic's dialect.
func AbortAnthropic(c *gin.Context, status int, typ, msg string) {
	c.AbortWithStatusJSON(status, NewAnthropicError(status, typ, msg))
}
