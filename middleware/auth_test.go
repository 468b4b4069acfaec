package middleware

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/model"
)

// fakeUsers is a UserLookup over a fixed set of users.
type fakeUsers struct {
	users []model.User
	err   error // returned by every lookup when set
}

func (f *fakeUsers) GetUser(_ context.Context, id int) (*model.User, error) {
	if f.err != nil {
		return nil, f.err
	}
	for _, u := range f.users {
		if u.ID == id {
			return &u, nil
		}
	}
	return nil, model.ErrNotFound
}

func (f *fakeUsers) GetUserByAccessToken(_ context.Context, token string) (*model.User, error) {
	if f.err != nil {
		return nil, f.err
	}
	for _, u := range f.users {
		if u.AccessToken == token {
			return &u, nil
		}
	}
	return nil, model.ErrNotFound
}

func TestAuth(t *testing.T) {
	users := &fakeUsers{users: []model.User{
		{ID: 1, Username: "root", Role: model.RoleRoot, Status: model.UserEnabled, AccessToken: "root-token"},
		{ID: 2, Username: "admin", Role: model.RoleAdmin, Status: model.UserEnabled, AccessToken: "admin-token"},
		{ID: 3, Username: "user", Role: model.RoleCommon, Status: model.UserEnabled, AccessToken: "user-token"},
		{ID: 4, Username: "banned", Role: model.RoleAdmin, Status: model.UserDisabled, AccessToken: "banned-token"},
	}}
	a := NewAuth(users)
	e := gin.New()
	e.Use(Sessions("test-secret"))
	whoami := func(c *gin.Context) {
		c.String(http.StatusOK, strconv.Itoa(UserID(c))+"/"+strconv.Itoa(Role(c.Request.Context())))
	}
	e.GET("/user", a.User(), whoami)
	e.GET("/admin", a.Admin(), whoami)
	e.GET("/root", a.Root(), whoami)
	e.GET("/login/:id", func(c *gin.Context) {
		id, _ := strconv.Atoi(c.Param("id"))
		if err := StartSession(c, &model.User{ID: id}); err != nil {
			t.Error(err)
		}
	})
	session := func(id int) *http.Cookie {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login/"+strconv.Itoa(id), nil))
		return rec.Result().Cookies()[0]
	}

	tests := []struct {
		name   string
		path   string
		auth   string
		cookie *http.Cookie
		want   int
		body   string
	}{
		{"bare token", "/user", "user-token", nil, http.StatusOK, "3/1"},
		{"bearer token", "/root", "Bearer root-token", nil, http.StatusOK, "1/100"},
		{"lower-case bearer", "/root", "bearer  root-token", nil, http.StatusOK, "1/100"},
		{"session", "/admin", "", session(2), http.StatusOK, "2/10"},
		{"session wins over a header", "/user", "Bearer root-token", session(3), http.StatusOK, "3/1"},
		{"nothing", "/user", "", nil, http.StatusUnauthorized, ""},
		{"unknown token", "/user", "Bearer nope", nil, http.StatusUnauthorized, ""},
		{"session of a deleted user", "/user", "", session(99), http.StatusUnauthorized, ""},
		{"tampered cookie", "/user", "", &http.Cookie{Name: SessionCookie, Value: "forged"}, http.StatusUnauthorized, ""},
		{"common user on admin", "/admin", "user-token", nil, http.StatusForbidden, ""},
		{"admin on root", "/root", "admin-token", nil, http.StatusForbidden, ""},
		{"disabled user", "/user", "banned-token", nil, http.StatusForbidden, ""},
		{"disabled user's session", "/user", "", session(4), http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.cookie != nil {
				req.AddCookie(tt.cookie)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body.String(), tt.want)
			}
			if tt.body != "" && rec.Body.String() != tt.body {
				t.Errorf("caller %q, want %q", rec.Body.String(), tt.body)
			}
		})
	}

	t.Run("store failure is a logged 500", func(t *testing.T) {
		defer common.SetLogOutput(io.Discard)()
		broken := NewAuth(&fakeUsers{err: errors.New("database is locked")})
		b := gin.New()
		b.GET("/user", broken.User(), whoami)
		req := httptest.NewRequest(http.MethodGet, "/user", nil)
		req.Header.Set("Authorization", "user-token")
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, req)
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("got %d, want 500", rec.Code)
		}
	})
}
