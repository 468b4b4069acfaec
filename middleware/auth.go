package middleware

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/cookie"
	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/model"
)

// SessionCookie is one-api's session cookie name.
const SessionCookie = "session"

// sessionMaxAge is one-api's: 30 days.
const sessionMaxAge = 30 * 24 * 3600

// Session keys, as one-api names them.
const (
	sessionUserID   = "id"
	sessionUsername = "username"
)

// Sessions installs the cookie session store, signed with secret
// (SESSION_SECRET). It must run before Auth and the login handler.
func Sessions(secret string) gin.HandlerFunc {
	store := cookie.NewStore([]byte(secret))
	store.Options(sessions.Options{
		Path: "/", MaxAge: sessionMaxAge, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	return sessions.Sessions(SessionCookie, store)
}

// StartSession logs u in: the session cookie now names u.
func StartSession(c *gin.Context, u *model.User) error {
	s := sessions.Default(c)
	s.Set(sessionUserID, u.ID)
	s.Set(sessionUsername, u.Username)
	// A new login gets a new CSRF token (csrf.go).
	token := common.RandomString(csrfTokenLength)
	s.Set(sessionCSRF, token)
	c.Header(CSRFHeader, token)
	return s.Save()
}

// EndSession logs the caller out.
func EndSession(c *gin.Context) error {
	s := sessions.Default(c)
	s.Clear()
	s.Options(sessions.Options{Path: "/", MaxAge: -1})
	return s.Save()
}

// UserLookup is what authentication reads from the store.
type UserLookup interface {
	GetUser(ctx context.Context, id int) (*model.User, error)
	GetUserByAccessToken(ctx context.Context, token string) (*model.User, error)
}

// Auth authenticates admin API callers by session cookie or access token.
// Every call reads the user row (one indexed lookup; the admin API is not a
// hot path), so a disabled user, a demotion or a rotated access token takes
// effect on the very next request.
type Auth struct {
	users UserLookup
}

// NewAuth returns an Auth reading users from users.
func NewAuth(users UserLookup) *Auth { return &Auth{users: users} }

// User admits any enabled user (role >= 1).
func (a *Auth) User() gin.HandlerFunc { return a.Require(model.RoleCommon) }

// Admin admits admins and root (role >= 10).
func (a *Auth) Admin() gin.HandlerFunc { return a.Require(model.RoleAdmin) }

// Root admits root only (role 100).
func (a *Auth) Root() gin.HandlerFunc { return a.Require(model.RoleRoot) }

var (
	errNoCredentials = errors.New("not logged in and no access token given")
	errBadToken      = errors.New("invalid access token")
	errStaleSession  = errors.New("session user no longer exists, log in again")
)

// Require admits enabled users with at least minRole: 401 without valid
// credentials, 403 for a disabled user or a lower role. The user's id and
// role go into the request context (UserID, Role).
func (a *Auth) Require(minRole int) gin.HandlerFunc {
	return func(c *gin.Context) {
		u, err := a.authenticate(c)
		switch {
		case errors.Is(err, errNoCredentials), errors.Is(err, errBadToken), errors.Is(err, errStaleSession):
			abortError(c, http.StatusUnauthorized, "unauthorized", err.Error())
			return
		case errors.Is(err, errCSRF):
			abortError(c, http.StatusForbidden, "forbidden", err.Error())
			return
		case err != nil:
			common.Error("authenticate (request id %s): %v", RequestID(c), err)
			abortError(c, http.StatusInternalServerError, "internal_error", "internal server error")
			return
		case u.Status != model.UserEnabled:
			abortError(c, http.StatusForbidden, "forbidden", "user is disabled")
			return
		case u.Role < minRole:
			abortError(c, http.StatusForbidden, "forbidden", "permission denied: "+roleName(minRole)+" role required")
			return
		}
		ctx := context.WithValue(c.Request.Context(), principalKey, principal{id: u.ID, role: u.Role})
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// authenticate finds the caller: the session first, as in one-api, then the
// Authorization header ("<token>" or "Bearer <token>"). A session request
// that fails the CSRF check falls back to the header when there is one: a
// script that sets Authorization is no cross-site form.
func (a *Auth) authenticate(c *gin.Context) (*model.User, error) {
	ctx := c.Request.Context()
	if id := sessionUser(c); id != 0 {
		err := checkCSRF(c)
		switch {
		case err == nil:
			u, err := a.users.GetUser(ctx, id)
			if errors.Is(err, model.ErrNotFound) {
				return nil, errStaleSession
			}
			return u, err
		case !errors.Is(err, errCSRF):
			return nil, err
		case c.GetHeader("Authorization") == "":
			return nil, err
		}
	}
	token := strings.TrimSpace(c.GetHeader("Authorization"))
	if len(token) >= 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	if token == "" {
		return nil, errNoCredentials
	}
	u, err := a.users.GetUserByAccessToken(ctx, token)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errBadToken
	}
	return u, err
}

// sessionUser is the user id in the session cookie, 0 when there is none
// (or when no session middleware runs on this route).
func sessionUser(c *gin.Context) int {
	if _, ok := c.Get(sessions.DefaultKey); !ok {
		return 0
	}
	id, _ := sessions.Default(c).Get(sessionUserID).(int)
	return id
}

func roleName(role int) string {
	switch {
	case role >= model.RoleRoot:
		return "root"
	case role >= model.RoleAdmin:
		return "admin"
	}
	return "user"
}

// principal is the authenticated caller.
type principal struct{ id, role int }

// UserID is the authenticated caller's user id, 0 outside Auth.
func UserID(ctx context.Context) int {
	p, _ := requestContext(ctx).Value(principalKey).(principal)
	return p.id
}

// Role is the authenticated caller's role, 0 outside Auth.
func Role(ctx context.Context) int {
	p, _ := requestContext(ctx).Value(principalKey).(principal)
	return p.role
}
