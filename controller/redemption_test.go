package controller_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"one-api/common"
	"one-api/internal/testdb"
	"one-api/model"
)

const userToken = "usertokenusertokenusertokenuser1" // a common user's access token

func TestRedemptionCRUD(t *testing.T) { testdb.Run(t, testRedemptionCRUD) }

func testRedemptionCRUD(t *testing.T, dialect string) {
	e := newEnv(t, withDialect(dialect))
	e.addUser("bob", "bob-password", userToken, model.RoleCommon)

	keys := data[[]string](t, e.ok(request{method: "POST", path: "/api/redemption/", auth: rootToken,
		body: map[string]any{"name": "promo", "quota": 5000, "count": 3}}))
	if len(keys) != 3 {
		t.Fatalf("created %d keys, want 3", len(keys))
	}
	for _, k := range keys {
		if len(k) != 32 {
			t.Errorf("key %q has %d characters, want 32", k, len(k))
		}
	}
	e.ok(request{method: "POST", path: "/api/redemption", auth: rootToken, body: map[string]any{"name": "other", "quota": 1}})

	list := data[[]model.Redemption](t, e.ok(request{method: "GET", path: "/api/redemption/?p=0&page_size=2", auth: rootToken}))
	if len(list) != 2 || list[0].Name != "other" || list[1].Name != "promo" {
		t.Fatalf("first page = %+v, want the 2 newest", list)
	}
	next := data[[]model.Redemption](t, e.ok(request{method: "GET", path: "/api/redemption/?p=1&page_size=2", auth: rootToken}))
	if len(next) != 2 || next[1].Key != keys[0] || next[1].Status != model.RedemptionEnabled || next[1].Quota != 5000 {
		t.Fatalf("second page = %+v, want the two oldest", next)
	}
	id := next[1].ID

	search := data[[]model.Redemption](t, e.ok(request{method: "GET", path: "/api/redemption/search?keyword=pro", auth: rootToken}))
	if len(search) != 3 {
		t.Errorf("search pro = %d codes, want 3", len(search))
	}
	byID := data[[]model.Redemption](t, e.ok(request{method: "GET", path: "/api/redemption/search?keyword=" + itoa(id), auth: rootToken}))
	if len(byID) != 1 || byID[0].ID != id {
		t.Errorf("search by id = %+v, want code %d", byID, id)
	}
	// A keyword is a bound value, never SQL.
	inj := data[[]model.Redemption](t, e.ok(request{method: "GET", path: "/api/redemption/search?keyword=%27%20OR%201%3D1%20--", auth: rootToken}))
	if len(inj) != 0 {
		t.Errorf("injection keyword found %d codes, want 0", len(inj))
	}

	path := "/api/redemption/" + itoa(id)
	got := data[model.Redemption](t, e.ok(request{method: "GET", path: path, auth: rootToken}))
	if got.Key != keys[0] || got.UserID != e.rootID || got.CreatedTime == 0 {
		t.Errorf("get = %+v", got)
	}

	// one-api's console sends the whole row back with an edit.
	got.Name, got.Quota = "renamed", 7000
	upd := data[model.Redemption](t, e.ok(request{method: "PUT", path: "/api/redemption/", auth: rootToken, body: got}))
	if upd.Name != "renamed" || upd.Quota != 7000 || upd.Status != model.RedemptionEnabled {
		t.Errorf("updated = %+v", upd)
	}
	dis := data[model.Redemption](t, e.ok(request{method: "PUT", path: "/api/redemption/?status_only=true", auth: rootToken,
		body: map[string]any{"id": id, "status": model.RedemptionDisabled, "name": "ignored"}}))
	if dis.Status != model.RedemptionDisabled || dis.Name != "renamed" {
		t.Errorf("status_only = %+v, want disabled and the name kept", dis)
	}

	for _, tt := range []struct {
		name, method, path string
		body               any
		want               string
	}{
		{"unknown field", "POST", "/api/redemption/", map[string]any{"name": "x", "quota": 1, "quotas": 2}, `unknown field "quotas"`},
		{"malformed", "POST", "/api/redemption/", `{"name":`, "invalid JSON"},
		{"wrong type", "POST", "/api/redemption/", map[string]any{"name": "x", "quota": "lots"}, "invalid JSON"},
		{"too many", "POST", "/api/redemption/", map[string]any{"name": "x", "quota": 1, "count": 101}, "count must be 1 to 100"},
		{"no name", "POST", "/api/redemption/", map[string]any{"quota": 1}, "name is required"},
		{"long name", "POST", "/api/redemption/", map[string]any{"name": strings.Repeat("n", 21), "quota": 1}, "name must be"},
		{"zero quota", "POST", "/api/redemption/", map[string]any{"name": "x", "quota": 0}, "quota must be greater than 0"},
		{"bad status", "PUT", "/api/redemption/", map[string]any{"id": id, "status": 3}, "invalid status 3"},
		{"missing", "GET", "/api/redemption/999999", nil, "not found"},
		{"bad id", "GET", "/api/redemption/abc", nil, "invalid id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if s, ok := body.(string); ok {
				body = []byte(s)
			}
			if msg := e.refused(request{method: tt.method, path: tt.path, auth: rootToken, body: body}); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q, want it to contain %q", msg, tt.want)
			}
		})
	}

	t.Run("common users cannot see or touch codes", func(t *testing.T) {
		for _, r := range []request{
			{method: "GET", path: "/api/redemption/"},
			{method: "GET", path: "/api/redemption/search?keyword=pro"},
			{method: "GET", path: path},
			{method: "DELETE", path: path},
			{method: "POST", path: "/api/redemption/", body: map[string]any{"name": "mine", "quota": 1}},
			{method: "PUT", path: "/api/redemption/", body: map[string]any{"id": id, "status": 1}},
		} {
			r.auth = userToken
			if res := e.do(r); res.Code != http.StatusForbidden || strings.Contains(res.Body.String(), keys[0]) {
				t.Errorf("%s %s as a common user: got %d %s, want 403", r.method, r.path, res.Code, res.Body.String())
			}
		}
	})

	e.ok(request{method: "DELETE", path: path, auth: rootToken})
	e.refused(request{method: "GET", path: path, auth: rootToken})
	e.refused(request{method: "DELETE", path: path, auth: rootToken})
}

// noCriticalLimit turns off the per-IP limit of credential routes, for
// tests that call them many times from one address.
func noCriticalLimit(c *common.Config) { c.CriticalRateLimit = 0 }

func TestRedeem(t *testing.T) { testdb.Run(t, testRedeem) }

func testRedeem(t *testing.T, dialect string) {
	for _, l := range ledgers {
		t.Run(l.name, func(t *testing.T) {
			e := newEnv(t, withDialect(dialect), withQuota(l.new), withConfig(noCriticalLimit))
			bob := e.addUser("bob", "bob-password", userToken, model.RoleCommon)
			keys := data[[]string](t, e.ok(request{method: "POST", path: "/api/redemption/", auth: rootToken,
				body: map[string]any{"name": "promo", "quota": 2500, "count": 2}}))

			added := data[int64](t, e.ok(request{method: "POST", path: "/api/user/topup", auth: userToken, body: map[string]string{"key": keys[0]}}))
			if added != 2500 {
				t.Errorf("data = %d, want the code's 2500", added)
			}
			self := data[model.User](t, e.ok(request{method: "GET", path: "/api/user/self", auth: userToken}))
			if self.Quota != 1000+2500 {
				t.Errorf("quota after redeem = %d, want 3500", self.Quota)
			}
			if !e.inv.sawUser(bob) {
				t.Error("redeem did not invalidate the user's cached facts")
			}
			logs := data[[]model.Log](t, e.ok(request{method: "GET", path: "/api/log/self?type=1", auth: userToken}))
			if len(logs) != 1 || logs[0].Quota != 2500 || logs[0].Username != "bob" || !strings.Contains(logs[0].Content, "redemption code") {
				t.Errorf("top-up logs = %+v, want one for 2500", logs)
			}
			codes := data[[]model.Redemption](t, e.ok(request{method: "GET", path: "/api/redemption/search?keyword=promo", auth: rootToken}))
			byKey := map[string]model.Redemption{}
			for _, r := range codes {
				byKey[r.Key] = r
			}
			used, unused := byKey[keys[0]], byKey[keys[1]]
			if used.Status != model.RedemptionUsed || used.RedeemedTime == 0 || unused.Status != model.RedemptionEnabled {
				t.Errorf("codes after one redeem = %+v, want the redeemed one used with a redeemed time", codes)
			}

			e.ok(request{method: "PUT", path: "/api/redemption/?status_only=true", auth: rootToken,
				body: map[string]any{"id": unused.ID, "status": model.RedemptionDisabled}})
			for _, tt := range []struct {
				name string
				body any
				want string
			}{
				{"used", map[string]string{"key": keys[0]}, "already been used"},
				{"disabled", map[string]string{"key": keys[1]}, "disabled"},
				{"unknown", map[string]string{"key": strings.Repeat("0", 32)}, "invalid redemption code"},
				{"upper-cased", map[string]string{"key": strings.ToUpper(keys[1])}, "invalid redemption code"},
				{"empty", map[string]string{"key": ""}, "key is required"},
				{"unknown field", map[string]string{"code": keys[1]}, `unknown field "code"`},
			} {
				if msg := e.refused(request{method: "POST", path: "/api/user/topup", auth: userToken, body: tt.body}); !strings.Contains(msg, tt.want) {
					t.Errorf("%s: message %q, want %q", tt.name, msg, tt.want)
				}
			}
			// A used code cannot be made spendable again.
			msg := e.refused(request{method: "PUT", path: "/api/redemption/?status_only=true", auth: rootToken,
				body: map[string]any{"id": used.ID, "status": model.RedemptionEnabled}})
			if !strings.Contains(msg, "has been used") {
				t.Errorf("re-enabling a used code: %q", msg)
			}
			if self := data[model.User](t, e.ok(request{method: "GET", path: "/api/user/self", auth: userToken})); self.Quota != 3500 {
				t.Errorf("quota after refused redeems = %d, want 3500", self.Quota)
			}
		})
	}
}

// redeemRace has n callers (spread over users and the given nodes) redeem
// one code at once and checks that exactly one succeeded, one user's quota
// grew by the code's quota, and one top-up log was written.
func redeemRace(t *testing.T, nodes []*testEnv, n int) {
	t.Helper()
	e := nodes[0]
	const users, quota = 4, 777
	tokens := make([]string, users)
	ids := make([]int, users)
	for i := range tokens {
		tokens[i] = common.RandomString(32)
		ids[i] = e.addUser("racer"+itoa(i), "racer-password", tokens[i], model.RoleCommon)
	}
	key := data[[]string](t, e.ok(request{method: "POST", path: "/api/redemption/", auth: rootToken,
		body: map[string]any{"name": "race", "quota": quota}}))[0]

	var wg sync.WaitGroup
	results := make([]response, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			node := nodes[i%len(nodes)]
			results[i] = node.do(request{method: "POST", path: "/api/user/topup", auth: tokens[i%users],
				body: map[string]string{"key": key}})
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, res := range results {
		switch {
		case res.Code == http.StatusOK && res.env.Success:
			wins++
		case res.Code == http.StatusOK && strings.Contains(res.env.Message, "already been used"):
		default:
			t.Errorf("caller %d: got %d %s, want success or \"already been used\"", i, res.Code, res.Body.String())
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent redeems succeeded, want exactly 1", wins, n)
	}
	var gained int64
	for _, id := range ids {
		u, err := e.store.GetUser(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		gained += u.Quota - 1000
	}
	if gained != quota {
		t.Errorf("users gained %d quota in all, want %d (one redeem)", gained, quota)
	}
	logs, err := e.store.ListLogs(context.Background(), model.LogFilter{Type: model.LogTopUp}, model.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 1 || logs[0].Quota != quota {
		t.Errorf("top-up logs = %+v, want exactly one of %d", logs, quota)
	}
}

func TestRedeemExactlyOnce(t *testing.T) { testdb.Run(t, testRedeemExactlyOnce) }

func testRedeemExactlyOnce(t *testing.T, dialect string) {
	for _, l := range ledgers {
		t.Run(l.name, func(t *testing.T) {
			e := newEnv(t, withDialect(dialect), withQuota(l.new), withConfig(noCriticalLimit))
			redeemRace(t, []*testEnv{e}, 64)
		})
	}
}

// Two gateway nodes (stores and batch ledgers of their own) on one
// PostgreSQL database: the claim holds across them.
func TestRedeemExactlyOnceAcrossNodes(t *testing.T) {
	a := newEnv(t, withDialect(testdb.Postgres), withQuota(newIdleBatchLedger), withConfig(noCriticalLimit))
	store, err := model.Open(model.OpenConfigFrom(a.cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	b := &testEnv{t: t, cfg: a.cfg, store: store, inv: &fakeInvalidator{}, rootID: a.rootID}
	b.quota = newIdleBatchLedger(t, store)
	b.build(context.Background())
	redeemRace(t, []*testEnv{a, b}, 64)
}
