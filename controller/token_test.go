package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"one-api/internal/testdb"
	"one-api/model"
)

func TestTokenCRUD(t *testing.T) { testdb.Run(t, testTokenCRUD) }

func testTokenCRUD(t *testing.T, dialect string) {
	e := newEnv(t, withDialect(dialect))
	const adminToken = "admintokenadmintokenadmintoken12"
	e.addUser("admin", "admin-password", adminToken, model.RoleAdmin)

	// one-api's body, as its web UI sends it.
	created := data[model.Token](t, e.ok(request{method: "POST", path: "/api/token/", auth: rootToken, body: map[string]any{
		"name": "ci", "remain_quota": 5000, "unlimited_quota": false, "expired_time": -1,
		"models": "gpt-4o-mini, gpt-4o", "subnet": "10.0.0.0/8",
	}}))
	if len(created.Key) != 48 || strings.HasPrefix(created.Key, "sk-") {
		t.Fatalf("created key %q, want 48 characters without sk-", created.Key)
	}
	if created.ID == 0 || created.RemainQuota != 5000 || created.ExpiredTime != -1 || created.Status != model.TokenEnabled ||
		created.Models == nil || *created.Models != "gpt-4o-mini,gpt-4o" {
		t.Errorf("created = %+v", created)
	}
	auth, err := e.store.GetTokenAuth(context.Background(), created.Key)
	if err != nil || auth.UserID != e.rootID || auth.Subnet != "10.0.0.0/8" {
		t.Errorf("stored token auth = %+v, %v; want root's token with its subnet", auth, err)
	}
	path := "/api/token/" + itoa(created.ID)

	t.Run("owner sees it", func(t *testing.T) {
		list := data[[]model.Token](t, e.ok(request{method: "GET", path: "/api/token/", auth: rootToken}))
		if len(list) != 1 || list[0].ID != created.ID {
			t.Errorf("root's tokens = %+v, want the created one", list)
		}
		e.ok(request{method: "GET", path: path, auth: rootToken})
	})

	t.Run("other users never see it", func(t *testing.T) {
		for _, r := range []request{
			{method: "GET", path: "/api/token/", auth: adminToken},
			{method: "GET", path: "/api/token", auth: adminToken},
			{method: "GET", path: "/api/user/", auth: rootToken},
			{method: "GET", path: "/api/log/", auth: adminToken},
		} {
			if res := e.ok(r); strings.Contains(res.Body.String(), created.Key) {
				t.Errorf("%s %s shows root's token key", r.method, r.path)
			}
		}
		if msg := e.refused(request{method: "GET", path: path, auth: adminToken}); strings.Contains(msg, created.Key) {
			t.Errorf("refusal shows the key")
		}
		e.refused(request{method: "DELETE", path: path, auth: adminToken})
		e.refused(request{method: "PUT", path: "/api/token/", auth: adminToken, body: map[string]any{"id": created.ID, "name": "stolen"}})
	})

	t.Run("update", func(t *testing.T) {
		got := data[model.Token](t, e.ok(request{method: "PUT", path: "/api/token/", auth: rootToken,
			body: map[string]any{"id": created.ID, "name": "renamed", "unlimited_quota": true, "remain_quota": 0}}))
		if got.Name != "renamed" || !got.UnlimitedQuota || got.RemainQuota != 0 || *got.Subnet != "10.0.0.0/8" {
			t.Errorf("updated = %+v, want renamed, unlimited, subnet kept", got)
		}
		if !e.inv.sawToken(created.Key) {
			t.Error("TokenChanged not called with the key")
		}
		got = data[model.Token](t, e.ok(request{method: "PUT", path: "/api/token/?status_only=true", auth: rootToken,
			body: map[string]any{"id": created.ID, "status": model.TokenDisabled, "name": "ignored"}}))
		if got.Status != model.TokenDisabled || got.Name != "renamed" {
			t.Errorf("status_only update = %+v, want disabled and the name unchanged", got)
		}
		e.refused(request{method: "PUT", path: "/api/token/", auth: rootToken,
			body: map[string]any{"id": created.ID, "subnet": "not-a-subnet"}})
	})

	t.Run("an expired token is only re-enabled with a new expiry", func(t *testing.T) {
		past := time.Now().Add(-time.Hour).Unix()
		e.store.Gorm().Model(&model.Token{}).Where("id = ?", created.ID).
			Updates(map[string]any{"status": model.TokenExpired, "expired_time": past})
		e.refused(request{method: "PUT", path: "/api/token/?status_only=true", auth: rootToken,
			body: map[string]any{"id": created.ID, "status": model.TokenEnabled}})
		got := data[model.Token](t, e.ok(request{method: "PUT", path: "/api/token/", auth: rootToken,
			body: map[string]any{"id": created.ID, "status": model.TokenEnabled, "expired_time": -1}}))
		if got.Status != model.TokenEnabled || got.ExpiredTime != -1 {
			t.Errorf("re-enabled = %+v", got)
		}
	})

	t.Run("invalid bodies", func(t *testing.T) {
		for _, body := range []any{
			map[string]any{"name": strings.Repeat("n", 31)},
			map[string]any{"name": "x", "remain_quota": -1},
			map[string]any{"name": "x", "expired_time": 1},
			[]byte("{not json"),
		} {
			e.refused(request{method: "POST", path: "/api/token/", auth: rootToken, body: body})
		}
	})

	t.Run("delete", func(t *testing.T) {
		e.ok(request{method: "DELETE", path: path, auth: rootToken})
		if _, err := e.store.GetTokenAuth(context.Background(), created.Key); err == nil {
			t.Error("token still authenticates after delete")
		}
		e.refused(request{method: "GET", path: path, auth: rootToken})
	})
}
