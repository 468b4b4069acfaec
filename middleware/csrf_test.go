package middleware

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"

	"one-api/model"
)

func TestCSRF(t *testing.T) {
	users := &fakeUsers{users: []model.User{
		{ID: 1, Username: "root", Role: model.RoleRoot, Status: model.UserEnabled, AccessToken: "root-token"},
		{ID: 3, Username: "user", Role: model.RoleCommon, Status: model.UserEnabled, AccessToken: "user-token"},
	}}
	a := NewAuth(users)
	e := gin.New()
	e.Use(Sessions("test-secret"))
	whoami := func(c *gin.Context) { c.String(http.StatusOK, strconv.Itoa(UserID(c))) }
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		e.Handle(m, "/user", a.User(), whoami)
	}
	e.GET("/login", func(c *gin.Context) {
		if err := StartSession(c, &model.User{ID: 1}); err != nil {
			t.Error(err)
		}
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
	cookie := rec.Result().Cookies()[0]
	token := rec.Header().Get(CSRFHeader)
	if len(token) != csrfTokenLength {
		t.Fatalf("login answered %s %q, want a %d-character token", CSRFHeader, token, csrfTokenLength)
	}

	tests := []struct {
		name, method, csrf, auth string
		cookie                   bool
		want                     int
		body                     string
	}{
		{"GET needs no token", http.MethodGet, "", "", true, 200, "1"},
		{"POST with the token", http.MethodPost, token, "", true, 200, "1"},
		{"PUT with the token", http.MethodPut, token, "", true, 200, "1"},
		{"POST without", http.MethodPost, "", "", true, 403, ""},
		{"DELETE with a wrong token", http.MethodDelete, token[:31] + "x", "", true, 403, ""},
		{"access token alone", http.MethodPost, "", "Bearer user-token", false, 200, "3"},
		{"cookie without token falls back to the access token", http.MethodDelete, "", "user-token", true, 200, "3"},
		{"cookie without token, bad access token", http.MethodDelete, "", "nope", true, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/user", nil)
			if tt.cookie {
				req.AddCookie(cookie)
			}
			if tt.csrf != "" {
				req.Header.Set(CSRFHeader, tt.csrf)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.want || (tt.body != "" && rec.Body.String() != tt.body) {
				t.Fatalf("got %d %s, want %d %s", rec.Code, rec.Body, tt.want, tt.body)
			}
			if tt.cookie && tt.auth == "" && rec.Header().Get(CSRFHeader) != token {
				t.Errorf("answer's %s = %q, want the session's token", CSRFHeader, rec.Header().Get(CSRFHeader))
			}
		})
	}

	t.Run("a session from before the token gets one", func(t *testing.T) {
		e.GET("/old", func(c *gin.Context) {
			s := sessions.Default(c)
			s.Set(sessionUserID, 3)
			_ = s.Save()
		})
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/old", nil))
		old := rec.Result().Cookies()[0]
		req := httptest.NewRequest(http.MethodGet, "/user", nil)
		req.AddCookie(old)
		rec = httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != 200 || len(rec.Header().Get(CSRFHeader)) != csrfTokenLength {
			t.Fatalf("got %d, %s %q; want 200 and a new token", rec.Code, CSRFHeader, rec.Header().Get(CSRFHeader))
		}
	})
}
