package controller

import (
	"errors"
	"fmt"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"one-api/common"
	"one-api/middleware"
	"one-api/model"
)

// accessTokenLength is users.access_token's char(32).
const accessTokenLength = 32

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// sessionUser is what login answers (one-api's cleaned user).
type sessionUser struct {
	ID          int    `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Role        int    `json:"role"`
	Status      int    `json:"status"`
	Group       string `json:"group"`
}

// hashPassword hashes a new password at the configured cost.
func (a *API) hashPassword(pw string) (string, error) {
	cost := a.BcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when the username is unknown, so that a
// login takes as long for a missing user as for a wrong password.
func (a *API) dummyHash() []byte {
	a.dummyOnce.Do(func() {
		h, err := a.hashPassword(common.RandomString(20))
		if err != nil {
			panic(err) // only for a cost out of range, a programming error
		}
		a.dummy = []byte(h)
	})
	return a.dummy
}

// Login is POST /api/user/login: username and password, answered with a
// session cookie.
func (a *API) Login(c *gin.Context) {
	var req loginRequest
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Username == "" || req.Password == "" {
		fail(c, Errorf("username and password are required"))
		return
	}
	u, err := a.Store.GetUserByUsername(c.Request.Context(), req.Username)
	if err != nil && !errors.Is(err, model.ErrNotFound) {
		fail(c, err)
		return
	}
	hash := a.dummyHash()
	if u != nil {
		hash = []byte(u.Password)
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(req.Password)) == nil
	if u == nil || !match || u.Status != model.UserEnabled {
		fail(c, Errorf("wrong username or password, or the user is disabled"))
		return
	}
	if err := middleware.StartSession(c, u); err != nil {
		fail(c, fmt.Errorf("save session: %w", err))
		return
	}
	respond(c, sessionUser{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName,
		Role: u.Role, Status: u.Status, Group: u.Group})
}

// Logout is GET /api/user/logout.
func (a *API) Logout(c *gin.Context) {
	if err := middleware.EndSession(c); err != nil {
		fail(c, fmt.Errorf("clear session: %w", err))
		return
	}
	respond(c, nil)
}

// Self is GET /api/user/self: the caller's own row, without secrets, with
// the quota movements not flushed yet.
func (a *API) Self(c *gin.Context) {
	id, _ := caller(c)
	u, err := a.Store.GetUser(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, publicUser(a.withPendingUser(u)))
}

// RotateAccessToken is GET /api/user/token: a new admin access token for the
// caller, shown this once; the old one stops working at once.
func (a *API) RotateAccessToken(c *gin.Context) {
	id, _ := caller(c)
	token := common.RandomString(accessTokenLength)
	if err := a.Store.UpdateUser(c.Request.Context(), id, model.UserPatch{AccessToken: &token}); err != nil {
		fail(c, err)
		return
	}
	respond(c, token)
}

// publicUser blanks the password hash and the access token, which no view
// but the rotation answer may show.
func publicUser(u *model.User) *model.User {
	u.Password = ""
	u.AccessToken = ""
	return u
}
