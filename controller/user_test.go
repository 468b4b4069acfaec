package controller_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"one-api/internal/testdb"
	"one-api/middleware"
	"one-api/model"
)

func TestBootstrapRootThenLogin(t *testing.T) {
	tests := []struct {
		name              string
		password, token   string
		key               string
		wantGeneratedCred bool
	}{
		{name: "from INITIAL_ROOT_* values", password: "configured-password", token: "configuredaccesstokenconfigured1", key: "configuredrelaykeyconfiguredrelaykeyconfiguredre"},
		{name: "random", wantGeneratedCred: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, withoutRoot)
			creds, err := e.store.BootstrapRoot(context.Background(), tt.password, tt.token, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := creds.PasswordGenerated && creds.AccessTokenGenerated, tt.wantGeneratedCred; g != w {
				t.Errorf("Generated = %v, want %v", g, w)
			}
			if tt.wantGeneratedCred {
				if len(creds.Password) < 20 || creds.Password == "123456" {
					t.Errorf("generated password has %d chars, want 20+ and never 123456", len(creds.Password))
				}
				if g := len(creds.AccessToken); g != 32 {
					t.Errorf("generated access token has %d chars, want 32", g)
				}
			} else if creds.Password != tt.password || creds.AccessToken != tt.token {
				t.Errorf("credentials not taken from the configuration")
			}

			// The password logs in; the access token authenticates as root.
			e.ok(request{method: "POST", path: "/api/user/login", body: map[string]string{"username": "root", "password": creds.Password}})
			self := data[model.User](t, e.ok(request{method: "GET", path: "/api/user/self", auth: creds.AccessToken}))
			if self.Username != "root" || self.Role != model.RoleRoot {
				t.Errorf("self = %s role %d, want root role 100", self.Username, self.Role)
			}

			tokens := data[[]model.Token](t, e.ok(request{method: "GET", path: "/api/token/", auth: creds.AccessToken}))
			if tt.key != "" && (len(tokens) != 1 || tokens[0].Key != tt.key || !tokens[0].UnlimitedQuota) {
				t.Errorf("root tokens = %+v, want one unlimited token with INITIAL_ROOT_TOKEN", tokens)
			}

			again, err := e.store.BootstrapRoot(context.Background(), "", "", "")
			if err != nil || again != nil {
				t.Errorf("second bootstrap = %v, %v; want nil, nil (users exist)", again, err)
			}
		})
	}
}

func TestLoginSession(t *testing.T) {
	e := newEnv(t)
	e.addUser("bob", "bob-password", "", model.RoleCommon)
	disabled := e.addUser("mallory", "mallory-password", "", model.RoleCommon)
	if err := e.store.UpdateUser(context.Background(), disabled, model.UserPatch{Status: new(model.UserDisabled)}); err != nil {
		t.Fatal(err)
	}

	for _, bad := range []map[string]string{
		{"username": "root", "password": "wrong-password"},
		{"username": "nobody", "password": "whatever-password"},
		{"username": "mallory", "password": "mallory-password"},
		{"username": "root"},
	} {
		e.refused(request{method: "POST", path: "/api/user/login", body: bad})
	}

	res := e.ok(request{method: "POST", path: "/api/user/login", body: map[string]string{"username": "bob", "password": "bob-password"}})
	var cookie *http.Cookie
	for _, c := range res.Result().Cookies() {
		if c.Name == middleware.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly {
		t.Fatalf("login set cookies %v, want an HttpOnly %q cookie", res.Result().Cookies(), middleware.SessionCookie)
	}
	self := e.ok(request{method: "GET", path: "/api/user/self", cookie: cookie})
	if u := data[model.User](t, self); u.Username != "bob" || u.Role != model.RoleCommon {
		t.Errorf("self = %+v, want bob", u)
	}
	if body := self.Body.String(); strings.Contains(body, `"password"`) || strings.Contains(body, `"access_token"`) {
		t.Errorf("self shows secrets: %s", body)
	}
	// A common user's session does not open admin routes.
	if res := e.do(request{method: "GET", path: "/api/user/", cookie: cookie}); res.Code != http.StatusForbidden {
		t.Errorf("common session on admin route: got %d, want 403", res.Code)
	}

	out := e.ok(request{method: "GET", path: "/api/user/logout", cookie: cookie})
	var cleared *http.Cookie
	for _, c := range out.Result().Cookies() {
		if c.Name == middleware.SessionCookie {
			cleared = c
		}
	}
	if cleared == nil || cleared.MaxAge >= 0 {
		t.Errorf("logout cookie = %v, want the session cookie expired", cleared)
	}
	if res := e.do(request{method: "GET", path: "/api/user/self", cookie: cleared}); res.Code != http.StatusUnauthorized {
		t.Errorf("after logout: got %d, want 401", res.Code)
	}
}

func TestAccessTokenAuth(t *testing.T) {
	e := newEnv(t)
	const userToken = "usertokenusertokenusertokenuser1"
	const adminToken = "admintokenadmintokenadmintoken12"
	const disabledToken = "disabledtokendisabledtokendisabl"
	e.addUser("alice", "alice-password", userToken, model.RoleCommon)
	e.addUser("admin", "admin-password", adminToken, model.RoleAdmin)
	off := e.addUser("off", "off-password1", disabledToken, model.RoleAdmin)
	if err := e.store.UpdateUser(context.Background(), off, model.UserPatch{Status: new(model.UserDisabled)}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, path, auth string
		want             int
	}{
		{"bare token", "/api/user/self", rootToken, http.StatusOK},
		{"bearer token", "/api/user/self", "Bearer " + rootToken, http.StatusOK},
		{"no credentials", "/api/user/self", "", http.StatusUnauthorized},
		{"unknown token", "/api/user/self", "Bearer nosuchtokennosuchtokennosuchtok", http.StatusUnauthorized},
		{"bearer without token", "/api/user/self", "Bearer ", http.StatusUnauthorized},
		{"disabled user", "/api/user/self", disabledToken, http.StatusForbidden},
		{"common user, user route", "/api/token/", userToken, http.StatusOK},
		{"common user, admin route", "/api/user/", userToken, http.StatusForbidden},
		{"common user, channels", "/api/channel/", userToken, http.StatusForbidden},
		{"common user, all logs", "/api/log/", userToken, http.StatusForbidden},
		{"common user, options", "/api/option/", userToken, http.StatusForbidden},
		{"admin, admin route", "/api/channel/", adminToken, http.StatusOK},
		{"admin, root route", "/api/option/", "Bearer " + adminToken, http.StatusForbidden},
		{"root, root route", "/api/option/", rootToken, http.StatusOK},
		{"admin, database settings", "/api/metrics/db", adminToken, http.StatusOK},
		{"common user, database settings", "/api/metrics/db", userToken, http.StatusForbidden},
		{"without trailing slash", "/api/channel", adminToken, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(request{method: "GET", path: tt.path, auth: tt.auth})
			if res.Code != tt.want {
				t.Fatalf("got %d %s, want %d", res.Code, res.Body.String(), tt.want)
			}
			if tt.want != http.StatusOK && (res.env.Success || res.env.Message == "") {
				t.Errorf("refusal body %s, want the envelope with success=false and a message", res.Body.String())
			}
		})
	}

	t.Run("rotation retires the old token at once", func(t *testing.T) {
		fresh := data[string](t, e.ok(request{method: "GET", path: "/api/user/token", auth: userToken}))
		if len(fresh) != 32 || fresh == userToken {
			t.Fatalf("rotated token %q, want 32 new characters", fresh)
		}
		if res := e.do(request{method: "GET", path: "/api/user/self", auth: userToken}); res.Code != http.StatusUnauthorized {
			t.Errorf("old token: got %d, want 401", res.Code)
		}
		e.ok(request{method: "GET", path: "/api/user/self", auth: fresh})
	})
}

func TestManageUsers(t *testing.T) { testdb.Run(t, testManageUsers) }

func testManageUsers(t *testing.T, dialect string) {
	e := newEnv(t, withDialect(dialect))
	const adminToken = "admintokenadmintokenadmintoken12"
	adminID := e.addUser("admin", "admin-password", adminToken, model.RoleAdmin)

	created := data[model.User](t, e.ok(request{method: "POST", path: "/api/user/", auth: adminToken,
		body: map[string]string{"username": "carol", "password": "carol-password"}}))
	if created.ID == 0 || created.DisplayName != "carol" || created.Role != model.RoleCommon || created.Password != "" {
		t.Fatalf("created = %+v, want common user carol without password", created)
	}
	e.refused(request{method: "POST", path: "/api/user/", auth: adminToken,
		body: map[string]string{"username": "carol", "password": "other-password"}})
	e.refused(request{method: "POST", path: "/api/user/", auth: adminToken,
		body: map[string]string{"username": "dave", "password": "short"}})
	e.ok(request{method: "POST", path: "/api/user/login", body: map[string]string{"username": "carol", "password": "carol-password"}})

	// Pagination: root, admin, carol; newest first.
	page := data[[]model.User](t, e.ok(request{method: "GET", path: "/api/user/?p=1&page_size=2", auth: rootToken}))
	if len(page) != 1 || page[0].Username != "root" {
		t.Errorf("page 1 of 2 = %+v, want [root]", page)
	}
	found := data[[]model.User](t, e.ok(request{method: "GET", path: "/api/user/search?keyword=car", auth: adminToken}))
	if len(found) != 1 || found[0].Username != "carol" {
		t.Errorf("search car = %+v, want [carol]", found)
	}

	t.Run("admin sees a lower user without secrets, not root", func(t *testing.T) {
		res := e.ok(request{method: "GET", path: "/api/user/" + itoa(created.ID), auth: adminToken})
		if strings.Contains(res.Body.String(), "access_token") || strings.Contains(res.Body.String(), "password") {
			t.Errorf("user view shows secrets: %s", res.Body.String())
		}
		e.refused(request{method: "GET", path: "/api/user/" + itoa(e.rootID), auth: adminToken})
	})

	t.Run("update", func(t *testing.T) {
		u := data[model.User](t, e.ok(request{method: "PUT", path: "/api/user/", auth: adminToken,
			body: map[string]any{"id": created.ID, "group": "vip", "quota": 0, "display_name": "Carol"}}))
		if u.Group != "vip" || u.Quota != 0 || u.DisplayName != "Carol" {
			t.Errorf("updated = %+v, want group vip, quota 0, display name Carol", u)
		}
		if !e.inv.sawUser(created.ID) {
			t.Error("UserChanged not called")
		}
		e.refused(request{method: "PUT", path: "/api/user/", auth: adminToken, body: map[string]any{"id": e.rootID, "quota": 1}})
	})

	manage := func(auth, user, action string) request {
		return request{method: "POST", path: "/api/user/manage", auth: auth, body: map[string]string{"username": user, "action": action}}
	}
	tests := []struct {
		name, auth, user, action string
		ok                       bool
		wantRole, wantStatus     int
	}{
		{"disable", adminToken, "carol", "disable", true, model.RoleCommon, model.UserDisabled},
		{"enable", adminToken, "carol", "enable", true, model.RoleCommon, model.UserEnabled},
		{"admin cannot promote", adminToken, "carol", "promote", false, 0, 0},
		{"root promotes", rootToken, "carol", "promote", true, model.RoleAdmin, model.UserEnabled},
		{"promote twice", rootToken, "carol", "promote", false, 0, 0},
		{"admin cannot manage an admin", adminToken, "carol", "demote", false, 0, 0},
		{"root demotes", rootToken, "carol", "demote", true, model.RoleCommon, model.UserEnabled},
		{"root cannot be disabled", rootToken, "root", "disable", false, 0, 0},
		{"unknown action", rootToken, "carol", "explode", false, 0, 0},
		{"unknown user", rootToken, "nobody", "disable", false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok {
				e.refused(manage(tt.auth, tt.user, tt.action))
				return
			}
			got := data[struct{ Role, Status int }](t, e.ok(manage(tt.auth, tt.user, tt.action)))
			if got.Role != tt.wantRole || got.Status != tt.wantStatus {
				t.Errorf("got role %d status %d, want %d %d", got.Role, got.Status, tt.wantRole, tt.wantStatus)
			}
		})
	}

	t.Run("delete", func(t *testing.T) {
		e.refused(request{method: "DELETE", path: "/api/user/" + itoa(adminID), auth: adminToken})
		e.ok(request{method: "DELETE", path: "/api/user/" + itoa(created.ID), auth: adminToken})
		e.refused(request{method: "GET", path: "/api/user/" + itoa(created.ID), auth: adminToken})
	})
}
