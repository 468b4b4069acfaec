package controller_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"one-api/internal/testdb"
	"one-api/model"
)

func TestOptions(t *testing.T) { testdb.Run(t, testOptions) }

func testOptions(t *testing.T, dialect string) {
	e := newEnv(t, withDialect(dialect))
	const adminToken = "admintokenadmintokenadmintoken12"
	e.addUser("admin", "admin-password", adminToken, model.RoleAdmin)
	if err := e.options.Set(context.Background(), "GitHubClientSecret", "hunter2-secret"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		value any
		check func(*model.Options) bool
	}{
		{"string", "3", func(o *model.Options) bool { return o.RetryTimes == 3 }},
		{"number", 4, func(o *model.Options) bool { return o.RetryTimes == 4 }},
		{"boolean", false, func(o *model.Options) bool { return !o.LogConsumeEnabled }},
	}
	keys := map[string]string{"string": "RetryTimes", "number": "RetryTimes", "boolean": "LogConsumeEnabled"}
	for _, tt := range tests {
		t.Run("set "+tt.name, func(t *testing.T) {
			e.ok(request{method: "PUT", path: "/api/option/", auth: rootToken, body: map[string]any{"key": keys[tt.name], "value": tt.value}})
			// Visible at once through the snapshot the relay reads.
			if !tt.check(e.options.Get()) {
				t.Errorf("option snapshot did not change: %+v", e.options.Get())
			}
		})
	}

	for _, body := range []map[string]any{
		{"key": "RetryTimes", "value": "-1"},
		{"key": "RetryTimes", "value": []int{1}},
		{"value": "1"},
	} {
		e.refused(request{method: "PUT", path: "/api/option/", auth: rootToken, body: body})
	}
	if g := e.options.Get().RetryTimes; g != 4 {
		t.Errorf("RetryTimes = %d after refused updates, want 4", g)
	}
	if res := e.do(request{method: "PUT", path: "/api/option/", auth: adminToken, body: map[string]any{"key": "RetryTimes", "value": "9"}}); res.Code != http.StatusForbidden {
		t.Errorf("admin updating options: got %d, want 403", res.Code)
	}

	res := e.ok(request{method: "GET", path: "/api/option", auth: rootToken})
	list := data[[]struct{ Key, Value string }](t, res)
	got := map[string]string{}
	for _, o := range list {
		got[o.Key] = o.Value
	}
	if got["RetryTimes"] != "4" || got["LogConsumeEnabled"] != "false" {
		t.Errorf("options = %v, want RetryTimes 4 and LogConsumeEnabled false", got)
	}
	if strings.Contains(res.Body.String(), "hunter2") || strings.Contains(res.Body.String(), "GitHubClientSecret") {
		t.Errorf("secret option listed: %s", res.Body.String())
	}

	// A new OptionStore (a restart) reads what was written.
	reloaded, err := model.NewOptionStore(context.Background(), e.store)
	if err != nil || reloaded.Get().RetryTimes != 4 {
		t.Errorf("after reload RetryTimes = %v, %v; want 4", reloaded.Get().RetryTimes, err)
	}
}
