package relay

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/middleware"
	"one-api/relay/openai"
)

// apiError is a failure answered in OpenAI's shape. body is what the client
// sees; detail, when set, goes only to the server log.
type apiError struct {
	status int
	body   openai.Error
	detail error
}

func (e *apiError) Error() string {
	if e.detail != nil {
		return fmt.Sprintf("%d %s: %v", e.status, e.body.Message, e.detail)
	}
	return fmt.Sprintf("%d %s", e.status, e.body.Message)
}

// gatewayError is a refusal by the gateway itself (type one_api_error).
func gatewayError(status int, code, msg string) *apiError {
	return &apiError{status: status, body: openai.Error{Message: msg, Type: openai.TypeOneAPI, Code: code}}
}

// internalError hides err from the client and logs it.
func internalError(code string, err error) *apiError {
	e := gatewayError(http.StatusInternalServerError, code, "internal error")
	e.detail = err
	return e
}

// upstreamStatusError turns an upstream error answer into the client's: an
// OpenAI-format error passes through with its status, its message stripped
// of the channel's key and anything shaped like a secret; anything else (an
// HTML error page, a proxy's text) becomes a short upstream_error so that
// no foreign page reaches an SDK expecting JSON.
func upstreamStatusError(status int, body []byte, key string) *apiError {
	if e, ok := openai.ParseErrorResponse(body); ok {
		e.Message = redact(e.Message, key)
		e.Param = redact(e.Param, key)
		return &apiError{status: status, body: e}
	}
	return &apiError{status: status, body: openai.Error{
		Message: fmt.Sprintf("upstream returned status %d", status),
		Type:    openai.TypeUpstream, Code: "bad_response_status_code",
	}}
}

// transportError is the answer when upstream could not be reached or did not
// answer in time: 504 for a timeout, 502 for everything else, as Caddy and
// httputil.ReverseProxy do.
func transportError(kind failKind, err error) *apiError {
	e := &apiError{status: http.StatusBadGateway, body: openai.Error{
		Message: "upstream request failed", Type: openai.TypeUpstream, Code: "upstream_unreachable",
	}, detail: err}
	if kind == failTimeout {
		e.status = http.StatusGatewayTimeout
		e.body.Message, e.body.Code = "upstream timed out", "upstream_timeout"
	}
	return e
}

// upstreamFailure is an answer that came with a 2xx status but cannot be
// passed on (not JSON, too large, a stream that ended before its first
// event): a 502, as for an unreachable upstream.
func upstreamFailure(code, msg string, err error) *apiError {
	return &apiError{status: http.StatusBadGateway, body: openai.Error{Message: msg, Type: openai.TypeUpstream, Code: code}, detail: err}
}

// shuttingDown answers a request ended by EndInFlight before any byte of it
// was written.
func shuttingDown() *apiError {
	return gatewayError(http.StatusServiceUnavailable, "server_shutting_down", "the server is shutting down; retry the request")
}

// writeError answers e, quoting the request id, and logs its detail.
func writeError(c *gin.Context, e *apiError) {
	if e.detail != nil {
		common.Error("relay %s %s: %v (request id: %s)", c.Request.Method, c.Request.URL.Path, e, c.Writer.Header().Get(middleware.RequestIDHeader))
	}
	body := e.body
	body.Message = middleware.WithRequestID(c, body.Message)
	if middleware.AnthropicPath(c.Request.URL.Path) {
		middleware.AbortAnthropic(c, e.status, body.Type, body.Message)
		return
	}
	c.AbortWithStatusJSON(e.status, openai.ErrorResponse{Error: body})
}
