package controller_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3" // the raw connection that writes one-api's schema

	"one-api/model"
)

// Redemption codes an existing one-api v0.6.11 database holds (its exact
// schema, rows as one-api writes them) redeem through our API after
// Store.Migrate, and the database keeps one-api's shape.
func TestOneAPIDatabaseRedemptions(t *testing.T) {
	const (
		unusedKey = "4f9c2a1be0d34c8f9a7b6e5d4c3b2a10" // one-api: a UUID without dashes
		usedKey   = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	)
	schema, err := os.ReadFile("../model/testdata/oneapi-v0.6.11.schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "one-api.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := append(strings.Split(string(schema), ";\n"),
		"INSERT INTO users (id, username, password, display_name, role, status, email, github_id, wechat_id, lark_id, oidc_id, access_token, quota, used_quota, request_count, `group`, aff_code, inviter_id) VALUES "+
			"(1, 'root', '$2a$10$abcdefghijklmnopqrstuuG6cKDZuM8yy2tPaDYm9Xb3g0b8vLq2a', 'Root User', 100, 1, '', '', '', '', '', '"+rootToken+"', 1000, 0, 0, 'default', 'Xy9z', 0)",
		"INSERT INTO redemptions (id, user_id, `key`, status, name, quota, created_time, redeemed_time) VALUES "+
			"(1, 1, '"+unusedKey+"', 1, 'launch', 250000, 1700000000, 0),"+
			"(2, 1, '"+usedKey+"', 3, 'launch', 250000, 1700000000, 1700000500)")
	for _, stmt := range stmts {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			if _, err := raw.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	raw.Close()

	cfg := defaultConfig(t)
	cfg.SQLitePath = path
	store, err := model.Open(model.OpenConfigFrom(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, cfg: cfg, store: store, inv: &fakeInvalidator{}, rootID: 1}
	e.build(ctx)

	list := data[[]model.Redemption](t, e.ok(request{method: "GET", path: "/api/redemption/", auth: rootToken}))
	if len(list) != 2 || list[1].Key != unusedKey || list[1].Quota != 250000 || list[0].Status != model.RedemptionUsed {
		t.Fatalf("one-api's codes = %+v", list)
	}
	if got := data[int64](t, e.ok(request{method: "POST", path: "/api/user/topup", auth: rootToken, body: map[string]string{"key": unusedKey}})); got != 250000 {
		t.Errorf("redeemed %d, want 250000", got)
	}
	if msg := e.refused(request{method: "POST", path: "/api/user/topup", auth: rootToken, body: map[string]string{"key": usedKey}}); !strings.Contains(msg, "already been used") {
		t.Errorf("one-api's used code: %q", msg)
	}
	if u, _ := store.GetUser(ctx, 1); u.Quota != 251000 {
		t.Errorf("root's quota = %d, want 1000 + 250000", u.Quota)
	}
	// Registration stays as one-api had it: no option row, so open.
	opts := data[[]model.Option](t, e.ok(request{method: "GET", path: "/api/option/", auth: rootToken}))
	for _, o := range opts {
		if o.Key == "RegisterEnabled" {
			t.Errorf("migration wrote RegisterEnabled=%s into a one-api database", o.Value)
		}
	}
}
