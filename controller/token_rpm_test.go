package controller_test

import (
	"context"
	"strings"
	"testing"

	"one-api/internal/testdb"
	"one-api/model"
)

// TestTokenRPMLimitAPI: the requests-per-minute limit is set on create,
// changed and removed (0) on update, shown in the token's JSON, refused out
// of range, invalidates the cached token, and reaches token auth.
func TestTokenRPMLimitAPI(t *testing.T) { testdb.Run(t, testTokenRPMLimitAPI) }

func testTokenRPMLimitAPI(t *testing.T, dialect string) {
	e := newEnv(t, withDialect(dialect))
	ctx := context.Background()
	created := data[model.Token](t, e.ok(request{method: "POST", path: "/api/token/", auth: rootToken, body: map[string]any{
		"name": "limited", "remain_quota": 100, "rpm_limit": 30,
	}}))
	if created.RPMLimit == nil || *created.RPMLimit != 30 {
		t.Fatalf("created rpm_limit = %v, want 30", created.RPMLimit)
	}
	authLimit := func() int {
		t.Helper()
		a, err := e.store.GetTokenAuth(ctx, created.Key)
		if err != nil {
			t.Fatal(err)
		}
		return a.RPMLimit
	}
	if g := authLimit(); g != 30 {
		t.Errorf("token auth limit = %d, want 30", g)
	}
	// Another field's update leaves the limit alone.
	e.ok(request{method: "PUT", path: "/api/token/", auth: rootToken, body: map[string]any{"id": created.ID, "name": "renamed"}})
	if g := authLimit(); g != 30 {
		t.Errorf("limit after a rename = %d, want 30", g)
	}
	updated := data[model.Token](t, e.ok(request{method: "PUT", path: "/api/token/", auth: rootToken, body: map[string]any{"id": created.ID, "rpm_limit": 5}}))
	if updated.RPMLimit == nil || *updated.RPMLimit != 5 || authLimit() != 5 {
		t.Errorf("after PUT rpm_limit 5: answer %v, token auth %d", updated.RPMLimit, authLimit())
	}
	if !e.inv.sawToken(created.Key) {
		t.Error("the cached token was not invalidated")
	}
	e.ok(request{method: "PUT", path: "/api/token/", auth: rootToken, body: map[string]any{"id": created.ID, "rpm_limit": 0}})
	if g := authLimit(); g != 0 {
		t.Errorf("limit after PUT rpm_limit 0 = %d, want 0 (none)", g)
	}
	for _, bad := range []any{-1, 1 << 20, "10"} {
		msg := e.refused(request{method: "PUT", path: "/api/token/", auth: rootToken, body: map[string]any{"id": created.ID, "rpm_limit": bad}})
		if !strings.Contains(msg, "rpm_limit") {
			t.Errorf("rpm_limit %v: message %q, want one naming rpm_limit", bad, msg)
		}
	}
	// A token made without one has none, shown as null as one-api's UI
	// expects of an unknown field.
	plain := e.ok(request{method: "POST", path: "/api/token/", auth: rootToken, body: map[string]any{"name": "plain"}})
	if !strings.Contains(string(plain.env.Data), `"rpm_limit":null`) {
		t.Errorf("token without a limit: %s, want rpm_limit null", plain.env.Data)
	}
}
