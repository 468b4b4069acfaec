package controller_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"one-api/internal/testdb"
	"one-api/model"
)

func TestSearches(t *testing.T) { testdb.Run(t, testSearches) }

func testSearches(t *testing.T, dialect string) {
	ctx := context.Background()
	e := newEnv(t, withDialect(dialect))
	bob := e.addUser("bob", "bob-password", userToken, model.RoleCommon)
	for _, name := range []string{"ci-build", "ci-deploy", "laptop"} {
		e.ok(request{method: "POST", path: "/api/token/", auth: userToken, body: map[string]any{"name": name}})
	}
	rootTok := data[model.Token](t, e.ok(request{method: "POST", path: "/api/token/", auth: rootToken, body: map[string]any{"name": "ci-root"}}))

	t.Run("tokens: the caller's only", func(t *testing.T) {
		got := data[[]model.Token](t, e.ok(request{method: "GET", path: "/api/token/search?keyword=ci", auth: userToken}))
		if len(got) != 2 || got[0].Name != "ci-deploy" || got[1].Name != "ci-build" {
			t.Errorf("bob's ci tokens = %+v, want his two, newest first", got)
		}
		page := data[[]model.Token](t, e.ok(request{method: "GET", path: "/api/token/search?keyword=ci&p=1&page_size=1", auth: userToken}))
		if len(page) != 1 || page[0].Name != "ci-build" {
			t.Errorf("page 1 of size 1 = %+v", page)
		}
		res := e.ok(request{method: "GET", path: "/api/token/search?keyword=" + rootTok.Name, auth: userToken})
		if strings.Contains(res.Body.String(), rootTok.Key) {
			t.Error("a user's token search shows root's token")
		}
	})

	t.Run("channels", func(t *testing.T) {
		e.ok(request{method: "POST", path: "/api/channel/", auth: rootToken, body: map[string]any{
			"type": 1, "name": "openai-main", "key": "sk-secret-one", "models": "gpt-4o", "group": "default"}})
		e.ok(request{method: "POST", path: "/api/channel/", auth: rootToken, body: map[string]any{
			"type": 1, "name": "backup", "key": "sk-secret-two", "models": "gpt-4o", "group": "default"}})
		for kw, want := range map[string]string{"openai": "openai-main", "sk-secret-two": "backup"} {
			res := e.ok(request{method: "GET", path: "/api/channel/search?keyword=" + kw, auth: rootToken})
			got := data[[]model.Channel](t, res)
			if len(got) != 1 || got[0].Name != want || strings.Contains(res.Body.String(), "sk-secret") {
				t.Errorf("search %q = %s, want %s without keys", kw, res.Body.String(), want)
			}
		}
		byID := data[[]model.Channel](t, e.ok(request{method: "GET", path: "/api/channel/search?keyword=1", auth: rootToken}))
		if len(byID) != 1 || byID[0].ID != 1 {
			t.Errorf("search by id 1 = %+v", byID)
		}
		if res := e.do(request{method: "GET", path: "/api/channel/search?keyword=a", auth: userToken}); res.Code != http.StatusForbidden {
			t.Errorf("common user's channel search: got %d, want 403", res.Code)
		}
	})

	t.Run("logs", func(t *testing.T) {
		for _, l := range []model.Log{
			{UserID: bob, Username: "bob", CreatedAt: 1700000000, Type: model.LogConsume, Content: "model ratio 2.50"},
			{UserID: bob, Username: "bob", CreatedAt: 1700000001, Type: model.LogTopUp, Content: "Top-up with a redemption code"},
			{UserID: e.rootID, Username: "root", CreatedAt: 1700000002, Type: model.LogTopUp, Content: "Top-up through the API"},
		} {
			if err := e.store.InsertLog(ctx, &l); err != nil {
				t.Fatal(err)
			}
		}
		all := data[[]model.Log](t, e.ok(request{method: "GET", path: "/api/log/search?keyword=1", auth: rootToken}))
		if len(all) != 2 {
			t.Errorf("admin search type 1 = %+v, want both top-ups", all)
		}
		content := data[[]model.Log](t, e.ok(request{method: "GET", path: "/api/log/search?keyword=Top-up%20with", auth: rootToken}))
		if len(content) != 1 || content[0].UserID != bob {
			t.Errorf("admin search by content = %+v", content)
		}
		mine := data[[]model.Log](t, e.ok(request{method: "GET", path: "/api/log/self/search?keyword=1", auth: userToken}))
		if len(mine) != 1 || mine[0].UserID != bob {
			t.Errorf("bob's type-1 logs = %+v, want his one", mine)
		}
		if none := data[[]model.Log](t, e.ok(request{method: "GET", path: "/api/log/self/search?keyword=Top-up", auth: userToken})); len(none) != 0 {
			t.Errorf("self search by text = %+v, want none (one-api matches the type only)", none)
		}
		if res := e.do(request{method: "GET", path: "/api/log/search?keyword=1", auth: userToken}); res.Code != http.StatusForbidden {
			t.Errorf("common user's admin log search: got %d, want 403", res.Code)
		}
	})

	t.Run("users", func(t *testing.T) {
		got := data[[]model.User](t, e.ok(request{method: "GET", path: "/api/user/search?keyword=bo", auth: rootToken}))
		if len(got) != 1 || got[0].ID != bob || got[0].Password != "" {
			t.Errorf("user search = %+v", got)
		}
	})

	if msg := e.refused(request{method: "GET", path: "/api/token/search?keyword=" + strings.Repeat("k", 300), auth: userToken}); !strings.Contains(msg, "keyword") {
		t.Errorf("long keyword: %q", msg)
	}
}

func TestPublicTextAndStatus(t *testing.T) {
	e := newEnv(t)
	e.addUser("bob", "bob-password", userToken, model.RoleCommon)
	for _, kv := range [][2]string{{"Notice", "maintenance at 3"}, {"About", "<p>about</p>"}, {"HomePageContent", "welcome"},
		{"SystemName", "Gateway"}, {"DisplayInCurrencyEnabled", "false"}, {"GroupRatio", `{"default":1,"pro":2}`}} {
		e.ok(request{method: "PUT", path: "/api/option/", auth: rootToken, body: map[string]string{"key": kv[0], "value": kv[1]}})
	}
	for path, want := range map[string]string{"/api/notice": "maintenance at 3", "/api/about": "<p>about</p>", "/api/home_page_content": "welcome"} {
		if got := data[string](t, e.ok(request{method: "GET", path: path})); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	groups := data[[]string](t, e.ok(request{method: "GET", path: "/api/group/", auth: rootToken}))
	if strings.Join(groups, ",") != "default,pro" {
		t.Errorf("groups = %v", groups)
	}
	if res := e.do(request{method: "GET", path: "/api/group/", auth: userToken}); res.Code != http.StatusForbidden {
		t.Errorf("common user's group list: got %d, want 403", res.Code)
	}
	st := data[map[string]any](t, e.ok(request{method: "GET", path: "/api/status"}))
	for k, want := range map[string]any{"system_name": "Gateway", "display_in_currency": false, "email_verification": false,
		"github_oauth": false, "wechat_login": false, "oidc": false, "turnstile_check": false} {
		if st[k] != want {
			t.Errorf("status %s = %v, want %v", k, st[k], want)
		}
	}
}
