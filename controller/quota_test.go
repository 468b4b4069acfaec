package controller_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"one-api/internal/testdb"
	"one-api/ledger"
	"one-api/model"
)

// The admin API must show and write balances exactly as if every quota
// movement were already in the database, whichever ledger moves quota.
var ledgers = []struct {
	name string
	new  func(t *testing.T, s *model.Store) model.QuotaAdmin
}{
	{"direct", func(_ *testing.T, s *model.Store) model.QuotaAdmin { return ledger.NewDirect(s.Gorm()) }},
	{"batch", newIdleBatchLedger},
}

// newIdleBatchLedger returns a batched ledger whose interval outlasts any
// test: movements stay pending until the test calls Flush (or Apply runs).
func newIdleBatchLedger(t *testing.T, s *model.Store) model.QuotaAdmin {
	l := ledger.NewBatch(s.Gorm(), ledger.BatchOptions{Interval: 24 * time.Hour})
	l.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("close ledger: %v", err)
		}
	})
	return l
}

// ledger is the environment's ledger on its charging side.
func (e *testEnv) ledger() model.QuotaLedger { return e.quota.(model.QuotaLedger) }

// flush writes pending movements (a no-op for the direct ledger).
func (e *testEnv) flush() {
	e.t.Helper()
	if bl, ok := e.quota.(*ledger.Batch); ok {
		if err := bl.Flush(context.Background()); err != nil {
			e.t.Fatalf("flush: %v", err)
		}
	}
}

// spend reserves r and settles it at cost, as the relay does for one request.
func (e *testEnv) spend(r model.Reservation, cost int64, channelID int) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.ledger().Reserve(ctx, r); err != nil {
		e.t.Fatalf("reserve %+v: %v", r, err)
	}
	if err := e.ledger().Settle(ctx, model.Settlement{Reservation: r, ChannelID: channelID, Quota: cost}); err != nil {
		e.t.Fatalf("settle %+v: %v", r, err)
	}
}

// chargeAfterRead returns a caller that serves a request during which charge
// runs once, right after the first read of row id of table: between a
// handler's read and its write, where a write-back of what it read would
// undo the charge.
func (e *testEnv) chargeAfterRead(table string, id int, charge func()) func(request) response {
	var armed atomic.Bool
	err := e.store.Gorm().Callback().Query().After("gorm:query").Register("test:charge_"+table, func(db *gorm.DB) {
		if db.Statement.Table != table || !slices.Contains(db.Statement.Vars, any(id)) {
			return
		}
		// Disarmed first: the charge's own balance reads do not charge again.
		if armed.CompareAndSwap(true, false) {
			charge()
		}
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return func(r request) response {
		e.t.Helper()
		armed.Store(true)
		res := e.ok(r)
		if armed.Swap(false) {
			e.t.Fatalf("%s %s never read %s row %d", r.method, r.path, table, id)
		}
		return res
	}
}

// quotaFixture is a common user with a limited token and a channel.
type quotaFixture struct {
	userID, tokenID, channelID int
	userAuth                   string
}

func (e *testEnv) quotaFixture() quotaFixture {
	e.t.Helper()
	const aliceToken = "alicetokenalicetokenalicetoken12"
	f := quotaFixture{userID: e.addUser("alice", "alice-password", aliceToken, model.RoleCommon), userAuth: aliceToken}
	tok := data[model.Token](e.t, e.ok(request{method: "POST", path: "/api/token/", auth: aliceToken,
		body: map[string]any{"name": "ci", "remain_quota": 500}}))
	ch := data[model.Channel](e.t, e.ok(request{method: "POST", path: "/api/channel/", auth: rootToken,
		body: map[string]any{"type": 1, "name": "openai", "key": "sk-upstream", "models": "gpt-4o"}}))
	f.tokenID, f.channelID = tok.ID, ch.ID
	return f
}

// balances is what the API or the database says about the fixture.
type balances struct {
	userQuota, userUsed    int64
	requests               int
	tokenRemain, tokenUsed int64
	channelUsed            int64
}

func (e *testEnv) dbBalances(f quotaFixture) balances {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.store.GetUser(ctx, f.userID)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.store.GetToken(ctx, f.tokenID, f.userID)
	if err != nil {
		e.t.Fatal(err)
	}
	ch, err := e.store.GetChannel(ctx, f.channelID)
	if err != nil {
		e.t.Fatal(err)
	}
	return balances{u.Quota, u.UsedQuota, u.RequestCount, tok.RemainQuota, tok.UsedQuota, ch.UsedQuota}
}

func TestViewsIncludePendingQuota(t *testing.T) { testdb.Run(t, testViewsIncludePendingQuota) }

func testViewsIncludePendingQuota(t *testing.T, dialect string) {
	for _, l := range ledgers {
		t.Run(l.name, func(t *testing.T) {
			e := newEnv(t, withDialect(dialect), withQuota(l.new))
			f := e.quotaFixture()
			before := e.dbBalances(f)
			r := model.Reservation{UserID: f.userID, TokenID: f.tokenID, Amount: 100}
			e.spend(r, 70, f.channelID)
			r.Amount = 50
			e.spend(r, 50, f.channelID)
			want := balances{1000 - 120, 120, 2, 500 - 120, 120, 120}

			if l.name == "batch" {
				if got := e.dbBalances(f); got != before {
					t.Fatalf("database = %+v before any flush, want %+v (movements pending)", got, before)
				}
			}
			check := func(stage string) {
				t.Helper()
				userViews := map[string]model.User{
					"self": data[model.User](t, e.ok(request{method: "GET", path: "/api/user/self", auth: f.userAuth})),
					"get":  data[model.User](t, e.ok(request{method: "GET", path: "/api/user/" + itoa(f.userID), auth: rootToken})),
				}
				for _, path := range []string{"/api/user/", "/api/user/search?keyword=alice"} {
					for _, u := range data[[]model.User](t, e.ok(request{method: "GET", path: path, auth: rootToken})) {
						if u.ID == f.userID {
							userViews[path] = u
						}
					}
				}
				for view, u := range userViews {
					if u.Quota != want.userQuota || u.UsedQuota != want.userUsed || u.RequestCount != want.requests {
						t.Errorf("%s: %s shows quota %d used %d requests %d, want %d %d %d", stage, view,
							u.Quota, u.UsedQuota, u.RequestCount, want.userQuota, want.userUsed, want.requests)
					}
				}
				tokens := data[[]model.Token](t, e.ok(request{method: "GET", path: "/api/token/", auth: f.userAuth}))
				one := data[model.Token](t, e.ok(request{method: "GET", path: "/api/token/" + itoa(f.tokenID), auth: f.userAuth}))
				if len(tokens) != 1 {
					t.Fatalf("%s: token list = %+v, want alice's one token", stage, tokens)
				}
				for view, tok := range map[string]model.Token{"list": tokens[0], "get": one} {
					if tok.RemainQuota != want.tokenRemain || tok.UsedQuota != want.tokenUsed {
						t.Errorf("%s: token %s shows remain %d used %d, want %d %d", stage, view,
							tok.RemainQuota, tok.UsedQuota, want.tokenRemain, want.tokenUsed)
					}
				}
				chs := data[[]model.Channel](t, e.ok(request{method: "GET", path: "/api/channel/", auth: rootToken}))
				ch := data[model.Channel](t, e.ok(request{method: "GET", path: "/api/channel/" + itoa(f.channelID), auth: rootToken}))
				if len(chs) != 1 || chs[0].UsedQuota != want.channelUsed || ch.UsedQuota != want.channelUsed {
					t.Errorf("%s: channel list %+v and get %+v, want used_quota %d", stage, chs, ch, want.channelUsed)
				}
			}
			check("pending")
			e.flush()
			if got := e.dbBalances(f); got != want {
				t.Errorf("database after flush = %+v, want %+v", got, want)
			}
			check("flushed")
		})
	}
}

func TestAdminQuotaEditOrderedAmongMovements(t *testing.T) {
	testdb.Run(t, testAdminQuotaEditOrderedAmongMovements)
}

func testAdminQuotaEditOrderedAmongMovements(t *testing.T, dialect string) {
	for _, l := range ledgers {
		t.Run(l.name, func(t *testing.T) {
			e := newEnv(t, withDialect(dialect), withQuota(l.new))
			f := e.quotaFixture()
			ctx := context.Background()
			r := model.Reservation{UserID: f.userID, TokenID: f.tokenID, Amount: 100}
			e.spend(r, 100, f.channelID) // before the edits: overwritten by them

			u := data[model.User](t, e.ok(request{method: "PUT", path: "/api/user/", auth: rootToken,
				body: map[string]any{"id": f.userID, "quota": 50}}))
			tok := data[model.Token](t, e.ok(request{method: "PUT", path: "/api/token/", auth: f.userAuth,
				body: map[string]any{"id": f.tokenID, "remain_quota": 40}}))
			if u.Quota != 50 || u.UsedQuota != 100 || tok.RemainQuota != 40 || tok.UsedQuota != 100 {
				t.Errorf("edit answers: user quota %d used %d, token remain %d used %d; want 50 100, 40 100",
					u.Quota, u.UsedQuota, tok.RemainQuota, tok.UsedQuota)
			}
			if !e.inv.sawUser(f.userID) || !e.inv.sawToken(tok.Key) {
				t.Error("the edits did not invalidate the user and the token")
			}

			// Reservations are judged against the edited balances at once.
			for _, c := range []struct {
				amount int64
				want   error
			}{{55, model.ErrUserQuotaExhausted}, {45, model.ErrTokenQuotaExhausted}} {
				r.Amount = c.amount
				if err := e.ledger().Reserve(ctx, r); !errors.Is(err, c.want) {
					t.Errorf("Reserve(%d) after the edits = %v, want %v", c.amount, err, c.want)
				}
			}
			r.Amount = 30
			e.spend(r, 30, f.channelID) // after the edits: charged against them

			e.flush()
			want := balances{50 - 30, 130, 2, 40 - 30, 130, 130}
			if got := e.dbBalances(f); got != want {
				t.Errorf("database = %+v, want %+v", got, want)
			}
		})
	}
}

func TestTokenEditKeepsConcurrentCharges(t *testing.T) {
	testdb.Run(t, testTokenEditKeepsConcurrentCharges)
}

func testTokenEditKeepsConcurrentCharges(t *testing.T, dialect string) {
	for _, l := range ledgers {
		t.Run(l.name, func(t *testing.T) {
			e := newEnv(t, withDialect(dialect), withQuota(l.new))
			f := e.quotaFixture()
			r := model.Reservation{UserID: f.userID, TokenID: f.tokenID, Amount: 100}
			e.spend(r, 100, f.channelID) // pending with the batched ledger
			r.Amount = 7
			put := e.chargeAfterRead("tokens", f.tokenID, func() { e.spend(r, 7, f.channelID) })

			// used_quota is the ledger's: a body carrying it changes nothing.
			got := data[model.Token](t, put(request{method: "PUT", path: "/api/token/", auth: f.userAuth,
				body: map[string]any{"id": f.tokenID, "name": "renamed", "used_quota": 0}}))
			const spent = 100 + 7
			if got.Name != "renamed" || got.RemainQuota != 500-spent || got.UsedQuota != spent {
				t.Errorf("answer: %q remain %d used %d, want renamed %d %d", got.Name, got.RemainQuota, got.UsedQuota, 500-spent, spent)
			}
			e.flush()
			db := e.dbBalances(f)
			if db.tokenRemain != 500-spent || db.tokenUsed != spent || db.userQuota != 1000-spent {
				t.Errorf("database = %+v, want token remain %d used %d, user quota %d", db, 500-spent, spent, 1000-spent)
			}
		})
	}
}

func TestUserEditKeepsConcurrentCharges(t *testing.T) {
	testdb.Run(t, testUserEditKeepsConcurrentCharges)
}

func testUserEditKeepsConcurrentCharges(t *testing.T, dialect string) {
	for _, l := range ledgers {
		t.Run(l.name, func(t *testing.T) {
			e := newEnv(t, withDialect(dialect), withQuota(l.new))
			f := e.quotaFixture()
			r := model.Reservation{UserID: f.userID, TokenID: f.tokenID, Amount: 100}
			e.spend(r, 100, f.channelID)
			r.Amount = 7
			put := e.chargeAfterRead("users", f.userID, func() { e.spend(r, 7, f.channelID) })

			got := data[model.User](t, put(request{method: "PUT", path: "/api/user/", auth: rootToken,
				body: map[string]any{"id": f.userID, "display_name": "Alice", "used_quota": 0, "request_count": 0}}))
			const spent, requests = 100 + 7, 2
			if got.DisplayName != "Alice" || got.Quota != 1000-spent || got.UsedQuota != spent || got.RequestCount != requests {
				t.Errorf("answer: %q quota %d used %d requests %d, want Alice %d %d %d",
					got.DisplayName, got.Quota, got.UsedQuota, got.RequestCount, 1000-spent, spent, requests)
			}
			e.flush()
			want := balances{1000 - spent, spent, requests, 500 - spent, spent, spent}
			if db := e.dbBalances(f); db != want {
				t.Errorf("database = %+v, want %+v", db, want)
			}
		})
	}
}
