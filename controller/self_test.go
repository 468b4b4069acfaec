package controller_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"one-api/common"
	"one-api/internal/testdb"
	"one-api/model"
)

func TestAdminTopUp(t *testing.T) { testdb.Run(t, testAdminTopUp) }

func testAdminTopUp(t *testing.T, dialect string) {
	for _, l := range ledgers {
		t.Run(l.name, func(t *testing.T) {
			e := newEnv(t, withDialect(dialect), withQuota(l.new))
			const adminToken = "admintokenadmintokenadmintoken12"
			admin := e.addUser("admin", "admin-password", adminToken, model.RoleAdmin)
			bob := e.addUser("bob", "bob-password", userToken, model.RoleCommon)

			e.ok(request{method: "POST", path: "/api/topup", auth: adminToken, body: map[string]any{"user_id": bob, "quota": 4000, "remark": "invoice 42"}})
			e.ok(request{method: "POST", path: "/api/topup/", auth: rootToken, body: map[string]any{"user_id": admin, "quota": 10}})
			u := data[model.User](t, e.ok(request{method: "GET", path: "/api/user/" + itoa(bob), auth: rootToken}))
			if u.Quota != 5000 {
				t.Errorf("bob's quota = %d, want 1000 + 4000", u.Quota)
			}
			logs := data[[]model.Log](t, e.ok(request{method: "GET", path: "/api/log/?type=1", auth: rootToken}))
			if len(logs) != 2 || logs[1].Content != "invoice 42" || logs[1].Quota != 4000 || logs[1].UserID != bob ||
				!strings.Contains(logs[0].Content, "Top-up through the API") {
				t.Errorf("top-up logs = %+v", logs)
			}
			for _, tt := range []struct {
				name, auth string
				body       any
				want       string
			}{
				{"an admin cannot top up an admin", adminToken, map[string]any{"user_id": admin, "quota": 1}, "no permission"},
				{"nor root", adminToken, map[string]any{"user_id": e.rootID, "quota": 1}, "no permission"},
				{"zero", rootToken, map[string]any{"user_id": bob, "quota": 0}, "greater than 0"},
				{"negative", rootToken, map[string]any{"user_id": bob, "quota": -5}, "greater than 0"},
				{"missing user", rootToken, map[string]any{"user_id": 99999, "quota": 5}, "not found"},
				{"unknown field", rootToken, map[string]any{"user_id": bob, "amount": 5}, `unknown field "amount"`},
			} {
				if msg := e.refused(request{method: "POST", path: "/api/topup", auth: tt.auth, body: tt.body}); !strings.Contains(msg, tt.want) {
					t.Errorf("%s: %q, want %q", tt.name, msg, tt.want)
				}
			}
			// A common user cannot top anyone up, themselves included.
			if res := e.do(request{method: "POST", path: "/api/topup", auth: userToken, body: map[string]any{"user_id": bob, "quota": 1}}); res.Code != http.StatusForbidden {
				t.Errorf("common user's top-up: got %d, want 403", res.Code)
			}
		})
	}
}

func TestRegister(t *testing.T) { testdb.Run(t, testRegister) }

func testRegister(t *testing.T, dialect string) {
	ctx := context.Background()
	e := newEnv(t, withDialect(dialect), withoutRoot, withConfig(noCriticalLimit))
	if _, err := e.store.BootstrapRoot(ctx, rootPassword, rootToken, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.options.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	form := map[string]string{"username": "alice", "password": "alice-password", "password2": "alice-password",
		"email": "", "verification_code": ""}
	if msg := e.refused(request{method: "POST", path: "/api/user/register", body: form}); !strings.Contains(msg, "registration is closed") {
		t.Fatalf("registration on a database we created: %q, want closed", msg)
	}

	set := func(key, value string) {
		t.Helper()
		e.ok(request{method: "PUT", path: "/api/option/", auth: rootToken, body: map[string]string{"key": key, "value": value}})
	}
	set("RegisterEnabled", "true")
	set("QuotaForNewUser", "300")
	set("QuotaForInviter", "50")
	set("QuotaForInvitee", "20")
	e.ok(request{method: "POST", path: "/api/user/register", body: form})
	alice, err := e.store.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if alice.Quota != 300 || alice.Role != model.RoleCommon || alice.DisplayName != "alice" || alice.AffCode == "" || alice.InviterID != 0 {
		t.Errorf("alice = %+v, want a common user with QuotaForNewUser", alice)
	}
	e.ok(request{method: "POST", path: "/api/user/login", body: map[string]string{"username": "alice", "password": "alice-password"}})

	invited := map[string]string{"username": "carol", "password": "carol-password", "aff_code": alice.AffCode}
	e.ok(request{method: "POST", path: "/api/user/register/", body: invited})
	carol, err := e.store.GetUserByUsername(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if alice2, _ := e.store.GetUser(ctx, alice.ID); carol.Quota != 320 || carol.InviterID != alice.ID || alice2.Quota != 350 {
		t.Errorf("carol quota %d inviter %d, alice %d; want 320, %d, 350", carol.Quota, carol.InviterID, alice2.Quota, alice.ID)
	}
	if !e.inv.sawUser(alice.ID) {
		t.Error("the inviter's reward did not invalidate the inviter's cached facts")
	}
	logs, err := e.store.ListLogs(ctx, model.LogFilter{Type: model.LogSystem}, model.Page{Limit: 10})
	if err != nil || len(logs) != 4 {
		t.Errorf("system logs = %+v, %v; want 4 (two new-user bonuses, invitee, inviter)", logs, err)
	}

	for _, tt := range []struct {
		name string
		body any
		want string
	}{
		{"taken", form, "is taken"},
		{"short password", map[string]string{"username": "dave", "password": "short"}, "password must be"},
		{"mismatch", map[string]string{"username": "dave", "password": "dave-password", "password2": "other-password"}, "do not match"},
		{"long username", map[string]string{"username": strings.Repeat("d", 13), "password": "dave-password"}, "username must be"},
		{"unknown field", map[string]string{"username": "dave", "password": "dave-password", "role": "100"}, `unknown field "role"`},
		{"malformed", []byte(`{"username":`), "invalid JSON"},
	} {
		if msg := e.refused(request{method: "POST", path: "/api/user/register", body: tt.body}); !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, msg, tt.want)
		}
	}
	set("PasswordRegisterEnabled", "false")
	if msg := e.refused(request{method: "POST", path: "/api/user/register", body: map[string]string{"username": "erin", "password": "erin-password"}}); !strings.Contains(msg, "password is turned off") {
		t.Errorf("PasswordRegisterEnabled=false: %q", msg)
	}
	set("PasswordRegisterEnabled", "true")
	set("EmailVerificationEnabled", "true")
	if msg := e.refused(request{method: "POST", path: "/api/user/register", body: map[string]string{"username": "erin", "password": "erin-password"}}); !strings.Contains(msg, "email verification") {
		t.Errorf("EmailVerificationEnabled=true: %q", msg)
	}
	set("EmailVerificationEnabled", "false")
	set("TurnstileCheckEnabled", "true")
	if msg := e.refused(request{method: "POST", path: "/api/user/register", body: map[string]string{"username": "erin", "password": "erin-password"}}); !strings.Contains(msg, "Turnstile") {
		t.Errorf("TurnstileCheckEnabled=true: %q", msg)
	}
}

// A one-api database (users, no RegisterEnabled row) keeps one-api's
// default: registration open.
func TestRegisterOpenOnOneAPIDefaults(t *testing.T) {
	e := newEnv(t)
	e.ok(request{method: "POST", path: "/api/user/register", body: map[string]string{"username": "alice", "password": "alice-password"}})
}

func TestRegisterAndRedeemRateLimited(t *testing.T) {
	e := newEnv(t, withConfig(func(c *common.Config) { c.CriticalRateLimit, c.CriticalRateWindow = 2, time.Hour }))
	e.addUser("bob", "bob-password", userToken, model.RoleCommon)
	for _, r := range []request{
		{method: "POST", path: "/api/user/register", body: map[string]string{"username": "x", "password": "short"}},
		{method: "POST", path: "/api/user/topup", auth: userToken, body: map[string]string{"key": "nope"}},
	} {
		r.ip = "203.0.113.9"
		if strings.Contains(r.path, "topup") {
			r.ip = "203.0.113.10"
		}
		e.refused(r)
		e.refused(r)
		if res := e.do(r); res.Code != http.StatusTooManyRequests || res.Header().Get("Retry-After") == "" {
			t.Errorf("third %s from one address: got %d, want 429 with Retry-After", r.path, res.Code)
		}
	}
}

func TestSelfService(t *testing.T) { testdb.Run(t, testSelfService) }

func testSelfService(t *testing.T, dialect string) {
	ctx := context.Background()
	e := newEnv(t, withDialect(dialect))
	bob := e.addUser("bob", "bob-password", userToken, model.RoleCommon)
	other := e.addUser("mallory", "mallory-password", "", model.RoleCommon)

	e.ok(request{method: "PUT", path: "/api/user/self", auth: userToken, body: map[string]any{"display_name": "Bobby", "password": ""}})
	if u, _ := e.store.GetUser(ctx, bob); u.DisplayName != "Bobby" {
		t.Errorf("display name = %q, want Bobby", u.DisplayName)
	}
	for _, tt := range []struct {
		name string
		body any
		want string
	}{
		{"password without the old one", map[string]any{"password": "new-password"}, "original_password is required"},
		{"wrong old password", map[string]any{"password": "new-password", "original_password": "guess-guess"}, "original_password is wrong"},
		{"short new password", map[string]any{"password": "short", "original_password": "bob-password"}, "password must be"},
		{"another user's id", map[string]any{"id": other, "display_name": "pwned"}, `unknown field "id"`},
		{"own quota", map[string]any{"quota": 1 << 40}, `unknown field "quota"`},
		{"taken username", map[string]any{"username": "mallory"}, "username is taken"},
	} {
		if msg := e.refused(request{method: "PUT", path: "/api/user/self", auth: userToken, body: tt.body}); !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, msg, tt.want)
		}
	}
	if u, _ := e.store.GetUser(ctx, other); u.DisplayName != "mallory" {
		t.Errorf("another user's display name changed to %q", u.DisplayName)
	}
	e.ok(request{method: "PUT", path: "/api/user/self", auth: userToken, body: map[string]any{"password": "new-password", "original_password": "bob-password"}})
	e.refused(request{method: "POST", path: "/api/user/login", body: map[string]string{"username": "bob", "password": "bob-password"}})
	e.ok(request{method: "POST", path: "/api/user/login", body: map[string]string{"username": "bob", "password": "new-password"}})

	// The invitation code: made on first use for a user without one.
	if err := e.store.UpdateUser(ctx, bob, model.UserPatch{AffCode: new("")}); err != nil {
		t.Fatal(err)
	}
	code := data[string](t, e.ok(request{method: "GET", path: "/api/user/aff", auth: userToken}))
	if again := data[string](t, e.ok(request{method: "GET", path: "/api/user/aff", auth: userToken})); len(code) != 4 || again != code {
		t.Errorf("aff codes %q then %q, want one 4-character code", code, again)
	}

	// Models: the caller group's enabled abilities.
	e.ok(request{method: "POST", path: "/api/channel/", auth: rootToken, body: map[string]any{
		"type": 1, "name": "c1", "key": "sk-1", "models": "gpt-4o,gpt-4o-mini", "group": "default"}})
	e.ok(request{method: "POST", path: "/api/channel/", auth: rootToken, body: map[string]any{
		"type": 8, "name": "c2", "key": "sk-2", "models": "llama", "group": "vip", "base_url": "http://upstream.example"}})
	models := data[[]string](t, e.ok(request{method: "GET", path: "/api/user/available_models", auth: userToken}))
	if strings.Join(models, ",") != "gpt-4o,gpt-4o-mini" {
		t.Errorf("available models = %v, want the default group's", models)
	}
	byType := data[map[string][]string](t, e.ok(request{method: "GET", path: "/api/models", auth: userToken}))
	if len(byType) != 1 || strings.Join(byType["1"], ",") != "gpt-4o,gpt-4o-mini" {
		t.Errorf("models by channel type = %v", byType)
	}

	// Root cannot delete itself; a user can, and is gone with its session.
	if msg := e.refused(request{method: "DELETE", path: "/api/user/self", auth: rootToken}); !strings.Contains(msg, "root") {
		t.Errorf("root deleting itself: %q", msg)
	}
	e.ok(request{method: "DELETE", path: "/api/user/self", auth: userToken})
	if _, err := e.store.GetUser(ctx, bob); err == nil {
		t.Error("bob still exists")
	}
	if !e.inv.sawUser(bob) {
		t.Error("delete did not invalidate the user's cached facts")
	}
	if res := e.do(request{method: "GET", path: "/api/user/self", auth: userToken}); res.Code != http.StatusUnauthorized {
		t.Errorf("deleted user's token: got %d, want 401", res.Code)
	}
}

func TestDashboard(t *testing.T) { testdb.Run(t, testDashboard) }

func testDashboard(t *testing.T, dialect string) {
	ctx := context.Background()
	e := newEnv(t, withDialect(dialect))
	bob := e.addUser("bob", "bob-password", userToken, model.RoleCommon)
	other := e.addUser("mallory", "mallory-password", "", model.RoleCommon)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	at := func(daysAgo int) int64 { return today.AddDate(0, 0, -daysAgo).Add(time.Hour).Unix() }
	for _, l := range []model.Log{
		{UserID: bob, CreatedAt: at(0), Type: model.LogConsume, ModelName: "gpt-4o", Quota: 10, PromptTokens: 5, CompletionTokens: 1},
		{UserID: bob, CreatedAt: at(0) + 60, Type: model.LogConsume, ModelName: "gpt-4o", Quota: 20, PromptTokens: 7, CompletionTokens: 2},
		{UserID: bob, CreatedAt: at(0), Type: model.LogConsume, ModelName: "o3", Quota: 5},
		{UserID: bob, CreatedAt: at(29), Type: model.LogConsume, ModelName: "gpt-4o", Quota: 1},
		{UserID: bob, CreatedAt: at(30), Type: model.LogConsume, ModelName: "gpt-4o", Quota: 1000},  // too old
		{UserID: bob, CreatedAt: at(0), Type: model.LogTopUp, Quota: 500},                           // not usage
		{UserID: other, CreatedAt: at(0), Type: model.LogConsume, ModelName: "gpt-4o", Quota: 3000}, // not bob's
	} {
		if err := e.store.InsertLog(ctx, &l); err != nil {
			t.Fatal(err)
		}
	}
	res := e.ok(request{method: "GET", path: "/api/user/dashboard", auth: userToken})
	if res.env.Message != "" {
		t.Errorf("message %q with consume logs on, want none", res.env.Message)
	}
	rows := data[[]map[string]any](t, res)
	day := func(daysAgo int) string { return today.AddDate(0, 0, -daysAgo).Format(time.DateOnly) }
	want := []map[string]any{
		{"Day": day(29), "ModelName": "gpt-4o", "RequestCount": 1.0, "Quota": 1.0, "PromptTokens": 0.0, "CompletionTokens": 0.0},
		{"Day": day(0), "ModelName": "gpt-4o", "RequestCount": 2.0, "Quota": 30.0, "PromptTokens": 12.0, "CompletionTokens": 3.0},
		{"Day": day(0), "ModelName": "o3", "RequestCount": 1.0, "Quota": 5.0, "PromptTokens": 0.0, "CompletionTokens": 0.0},
	}
	if len(rows) != len(want) {
		t.Fatalf("dashboard = %v, want %v", rows, want)
	}
	for i := range want {
		for k, v := range want[i] {
			if rows[i][k] != v {
				t.Errorf("row %d %s = %v, want %v", i, k, rows[i][k], v)
			}
		}
	}
	e.ok(request{method: "PUT", path: "/api/option/", auth: rootToken, body: map[string]string{"key": "LogConsumeEnabled", "value": "false"}})
	if res := e.ok(request{method: "GET", path: "/api/user/dashboard", auth: userToken}); !strings.Contains(res.env.Message, "consume logs are off") {
		t.Errorf("message %q with consume logs off, want it said", res.env.Message)
	}
}
