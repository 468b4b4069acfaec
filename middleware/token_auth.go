package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/model"
	"one-api/tokenlimit"
)

// RequestIDHeader is the response header carrying the request id; OpenAI
// errors quote it so a user's report can be matched to the server log.
const RequestIDHeader = "X-Oneapi-Request-Id"

// TokenInfo is what token auth established about a relay request.
type TokenInfo struct {
	Auth *model.TokenAuth
	// ChannelID is the channel an admin forced with "sk-<key>-<id>"; 0 = none.
	ChannelID int
	// Model is the model the request asks for ("" when the route has none).
	Model string
}

type tokenInfoKey struct{}

// TokenInfoFrom returns what TokenAuth stored, or nil.
func TokenInfoFrom(c *gin.Context) *TokenInfo {
	v, _ := c.Get(tokenInfoKey{})
	ti, _ := v.(*TokenInfo)
	return ti
}

// TokenAuthConfig is what TokenAuth needs.
type TokenAuthConfig struct {
	Tokens model.TokenStore
	// Model reads the requested model from the request (the relay parses the
	// body once and keeps it for the handler). Its error is the client's:
	// 413 for *http.MaxBytesError, 400 otherwise.
	Model func(*gin.Context) (string, error)
	// Now is the clock for expiry checks; nil = time.Now.
	Now func() time.Time
	// Limiter enforces the tokens' requests-per-minute limits
	// (tokens.rpm_limit); nil = none. A token without a limit never
	// reaches it.
	Limiter tokenlimit.Limiter
}

// TokenAuth authenticates relay requests by their sk- key, making one-api's
// checks in one-api's order: the token exists, is enabled, has not expired,
// has quota left (unless unlimited), the client IP is inside its subnet, its
// user is enabled, and it may use the requested model. Every refusal is an
// OpenAI-format error: 401 for a key that cannot be used at all, 403 for a
// valid key that may not do this.
func TokenAuth(cfg TokenAuthConfig) gin.HandlerFunc {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		if h == "" {
			// Anthropic's SDKs and Claude Code send the key here.
			h = c.GetHeader("X-Api-Key")
		}
		key, channel, ok := ParseTokenHeader(h)
		if !ok {
			abortOpenAI(c, http.StatusUnauthorized, "no token provided: send Authorization: Bearer sk-... (or x-api-key: sk-...)")
			return
		}
		auth, err := cfg.Tokens.GetTokenAuth(c.Request.Context(), key)
		if errors.Is(err, model.ErrTokenNotFound) {
			abortOpenAI(c, http.StatusUnauthorized, "invalid token")
			return
		}
		if err != nil {
			common.Error("token auth: %v", err)
			abortOpenAI(c, http.StatusInternalServerError, "token lookup failed")
			return
		}
		if status, msg := checkToken(auth, now().Unix()); status != 0 {
			abortOpenAI(c, status, msg)
			return
		}
		if auth.Subnet != "" {
			ip := c.ClientIP()
			if !inSubnets(ip, auth.Subnet) {
				abortOpenAI(c, http.StatusForbidden, fmt.Sprintf("this token may only be used from %s, your IP is %s", auth.Subnet, ip))
				return
			}
		}
		if auth.UserStatus != model.UserEnabled {
			abortOpenAI(c, http.StatusForbidden, "user is disabled")
			return
		}
		// Before the body is parsed: a client over its limit costs the
		// least work possible, and nothing is reserved or logged.
		if auth.RPMLimit > 0 && cfg.Limiter != nil {
			if ok, retry := cfg.Limiter.Allow(c.Request.Context(), auth.TokenID, auth.RPMLimit); !ok {
				abortRateLimited(c, auth.RPMLimit, retry)
				return
			}
		}
		var name string
		if cfg.Model != nil {
			if name, err = cfg.Model(c); err != nil {
				status := http.StatusBadRequest
				if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
					status = http.StatusRequestEntityTooLarge
				}
				abortWith(c, status, "invalid_request_error", err.Error())
				return
			}
		}
		if name != "" && !ModelAllowed(auth, name) {
			abortOpenAI(c, http.StatusForbidden, fmt.Sprintf("this token may not use model %s", name))
			return
		}
		ti := &TokenInfo{Auth: auth, Model: name}
		if channel != "" {
			if auth.Role < model.RoleAdmin {
				abortOpenAI(c, http.StatusForbidden, "only administrators may choose a channel")
				return
			}
			if ti.ChannelID, err = strconv.Atoi(channel); err != nil || ti.ChannelID <= 0 {
				abortOpenAI(c, http.StatusBadRequest, fmt.Sprintf("invalid channel id %q", channel))
				return
			}
		}
		c.Set(tokenInfoKey{}, ti)
		c.Next()
	}
}

// ParseTokenHeader takes an Authorization value apart as one-api does:
// strip "Bearer ", strip "sk-", split on "-": part 0 is the key, part 1 an
// optional channel id. ok is false when no key is left.
func ParseTokenHeader(h string) (key, channel string, ok bool) {
	h = strings.TrimSpace(h)
	if len(h) >= 6 && strings.EqualFold(h[:6], "bearer") && (len(h) == 6 || h[6] == ' ') {
		h = strings.TrimSpace(h[6:])
	}
	h = strings.TrimPrefix(h, "sk-")
	key, rest, _ := strings.Cut(h, "-")
	channel, _, _ = strings.Cut(rest, "-")
	return key, channel, key != ""
}

// checkToken makes the checks that need only the token's own facts.
func checkToken(a *model.TokenAuth, now int64) (int, string) {
	switch a.Status {
	case model.TokenEnabled:
	case model.TokenExpired:
		return http.StatusUnauthorized, "token has expired"
	case model.TokenExhausted:
		return http.StatusForbidden, fmt.Sprintf("token %s (#%d) quota is exhausted", a.Name, a.TokenID)
	default:
		return http.StatusUnauthorized, "token is disabled"
	}
	if a.ExpiredTime != -1 && a.ExpiredTime < now {
		return http.StatusUnauthorized, "token has expired"
	}
	if !a.Unlimited && a.RemainQuota <= 0 {
		return http.StatusForbidden, fmt.Sprintf("token %s (#%d) quota is exhausted", a.Name, a.TokenID)
	}
	return 0, ""
}

// inSubnets reports whether ip lies in one of the comma-separated CIDRs (or
// equals one of the bare addresses) of list. A malformed entry matches
// nothing: a typo must not open the token to everyone.
func inSubnets(ip, list string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for list != "" {
		var item string
		item, list, _ = strings.Cut(list, ",")
		item = strings.TrimSpace(item)
		if p, err := netip.ParsePrefix(item); err == nil {
			if p.Contains(addr) {
				return true
			}
		} else if a, err := netip.ParseAddr(item); err == nil && a.Unmap() == addr {
			return true
		}
	}
	return false
}

// ModelAllowed reports whether the token may use model name: it has no
// allow-list, or name is on it.
func ModelAllowed(a *model.TokenAuth, name string) bool {
	return a.Models == "" || inList(name, a.Models)
}

// inList reports whether name is one of the comma-separated entries of list.
func inList(name, list string) bool {
	for list != "" {
		var item string
		item, list, _ = strings.Cut(list, ",")
		if strings.TrimSpace(item) == name {
			return true
		}
	}
	return false
}

// OpenAIError is the body of every relay error, in OpenAI's shape.
type OpenAIError struct {
	Error OpenAIErrorBody `json:"error"`
}

// OpenAIErrorBody is OpenAI's error object.
type OpenAIErrorBody struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   string `json:"param"`
	Code    any    `json:"code"`
}

// abortRateLimited answers a request over its token's limit as OpenAI
// answers one over an account's: 429, type "requests", code
// "rate_limit_exceeded", and Retry-After in seconds, which OpenAI's SDKs
// wait for before they retry.
func abortRateLimited(c *gin.Context, limit int, retry time.Duration) {
	secs := int(retry / time.Second)
	c.Header("Retry-After", strconv.Itoa(secs))
	msg := WithRequestID(c, fmt.Sprintf("rate limit reached: this token allows %d requests per minute, retry in %d s", limit, secs))
	if AnthropicPath(c.Request.URL.Path) {
		AbortAnthropic(c, http.StatusTooManyRequests, "rate_limit_error", msg)
		return
	}
	c.AbortWithStatusJSON(http.StatusTooManyRequests, OpenAIError{Error: OpenAIErrorBody{
		Message: msg, Type: "requests", Code: "rate_limit_exceeded",
	}})
}

// abortOpenAI answers a gateway refusal (type one_api_error).
func abortOpenAI(c *gin.Context, status int, msg string) {
	abortWith(c, status, "one_api_error", msg)
}

func abortWith(c *gin.Context, status int, typ, msg string) {
	if AnthropicPath(c.Request.URL.Path) {
		AbortAnthropic(c, status, typ, WithRequestID(c, msg))
		return
	}
	c.AbortWithStatusJSON(status, OpenAIError{Error: OpenAIErrorBody{
		Message: WithRequestID(c, msg), Type: typ,
	}})
}

// WithRequestID appends " (request id: <id>)" as one-api does, reading the
// id from the response header the request-id middleware set.
func WithRequestID(c *gin.Context, msg string) string {
	id := c.Writer.Header().Get(RequestIDHeader)
	if id == "" {
		return msg
	}
	return msg + " (request id: " + id + ")"
}
