package middleware

import (
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"

	"one-api/common"
)

// CSRF protection for the session cookie (issue 16). The cookie is already
// SameSite=Strict; on top, every state-changing /api call authenticated by
// the cookie must carry the session's own random token in X-CSRF-Token.
// A page on another origin cannot read that token (it travels in a response
// header, which the same-origin policy hides) nor send a custom header
// without a CORS preflight the gateway never grants. Callers with an access
// token in Authorization are not cookie-authenticated and are unaffected.

// CSRFHeader carries the token both ways: Auth sets it on every
// session-authenticated answer (and login on its answer); the console sends
// it back on POST, PUT, PATCH and DELETE.
const CSRFHeader = "X-CSRF-Token"

// sessionCSRF is the session key of the token.
const sessionCSRF = "csrf"

const csrfTokenLength = 32

var errCSRF = errors.New("missing or invalid " + CSRFHeader + " header: reload the console, or use an access token")

// safeMethod reports methods that change nothing.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// csrfToken returns the session's token, creating one for a session that
// predates it (the caller saves the session).
func csrfToken(s sessions.Session) (token string, created bool) {
	if t, ok := s.Get(sessionCSRF).(string); ok && len(t) == csrfTokenLength {
		return t, false
	}
	t := common.RandomString(csrfTokenLength)
	s.Set(sessionCSRF, t)
	return t, true
}

// checkCSRF hands the session's token to the caller and, for a
// state-changing method, requires the request to carry it. It runs only for
// callers the session cookie authenticated.
func checkCSRF(c *gin.Context) error {
	s := sessions.Default(c)
	token, created := csrfToken(s)
	if created {
		if err := s.Save(); err != nil {
			return err
		}
	}
	c.Header(CSRFHeader, token)
	if safeMethod(c.Request.Method) {
		return nil
	}
	got := c.GetHeader(CSRFHeader)
	if created || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		return errCSRF
	}
	return nil
}
