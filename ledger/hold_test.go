package ledger

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"one-api/model"
)

// newHold returns a Hold over a fresh SQLite store, as start.go builds it
// for the defaults, and the store's database.
func newHold(t *testing.T) (*Hold, *gorm.DB) {
	t.Helper()
	st := openPhaseBStore(t)
	group := st.GroupLedger()
	t.Cleanup(func() { group.Close(context.Background()) })
	return HoldFor(st, group), st.Gorm()
}

type rows struct{ quota, used, count, remain, tokenUsed int64 }

func readRows(t *testing.T, db *gorm.DB, userID, tokenID int) rows {
	t.Helper()
	var r rows
	if err := db.Raw("SELECT quota, used_quota, request_count FROM users WHERE id = ?", userID).Row().Scan(&r.quota, &r.used, &r.count); err != nil {
		t.Fatal(err)
	}
	if err := db.Raw("SELECT remain_quota, used_quota FROM tokens WHERE id = ?", tokenID).Row().Scan(&r.remain, &r.tokenUsed); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestHoldGrantsAndChargesAsDirect: the same calls on Direct (every
// reservation a conditional UPDATE) and on Hold (reservations in memory,
// one commit per bill) grant and refuse the same reservations and leave the
// same rows once nothing is held.
func TestHoldGrantsAndChargesAsDirect(t *testing.T) {
	type op struct {
		kind   string // reserve, bill, release, credit
		i      int    // which reservation bill/release ends
		amount int64  // reserve: amount; bill: final cost; credit: amount added
		want   error  // reserve's outcome
	}
	cases := []struct {
		name      string
		user, tok int64 // initial balances
		unlimited bool
		ops       []op
	}{
		{"bill below, at and above the reservation", 1000, 1000, false, []op{
			{kind: "reserve", amount: 100}, {kind: "reserve", amount: 100}, {kind: "reserve", amount: 100},
			{kind: "bill", i: 0, amount: 40}, {kind: "bill", i: 1, amount: 100}, {kind: "bill", i: 2, amount: 250},
		}},
		{"user balance runs out, then a credit makes room", 250, 1000, false, []op{
			{kind: "reserve", amount: 100}, {kind: "reserve", amount: 100},
			{kind: "reserve", amount: 100, want: model.ErrUserQuotaExhausted},
			{kind: "reserve", amount: 50}, // 50 left: granted, as quota >= 50 AND quota > 0
			{kind: "reserve", amount: 1, want: model.ErrUserQuotaExhausted},
			{kind: "release", i: 0},
			{kind: "reserve", amount: 100},
			{kind: "credit", amount: 500},
			{kind: "reserve", amount: 400},
			{kind: "bill", i: 1, amount: 10}, {kind: "bill", i: 3, amount: 50}, {kind: "bill", i: 5, amount: 100}, {kind: "release", i: 6},
		}},
		{"token runs out first", 10000, 150, false, []op{
			{kind: "reserve", amount: 100},
			{kind: "reserve", amount: 100, want: model.ErrTokenQuotaExhausted},
			{kind: "bill", i: 0, amount: 30},
			{kind: "reserve", amount: 100},
			{kind: "bill", i: 2, amount: 100},
		}},
		{"unlimited token spends only the user", 300, 0, true, []op{
			{kind: "reserve", amount: 200}, {kind: "reserve", amount: 200, want: model.ErrUserQuotaExhausted},
			{kind: "bill", i: 0, amount: 250}, {kind: "reserve", amount: 10},
			{kind: "reserve", amount: 60, want: model.ErrUserQuotaExhausted}, {kind: "release", i: 2},
		}},
		{"a bill beyond the balance leaves it negative, then refuses", 100, 1000, false, []op{
			{kind: "reserve", amount: 100}, {kind: "bill", i: 0, amount: 300},
			{kind: "reserve", amount: 1, want: model.ErrUserQuotaExhausted},
		}},
	}
	type ledgerUnder interface {
		model.QuotaLedger
		model.QuotaAdmin
	}
	run := func(t *testing.T, l ledgerUnder, db *gorm.DB, user, tok int64, unlimited bool, ops []op) (rows, []error) {
		t.Helper()
		ctx := context.Background()
		uid, tids := seedUserTokens(t, db, "u", user, "k")
		if err := db.Model(&model.Token{}).Where("id = ?", tids[0]).Update("remain_quota", tok).Error; err != nil {
			t.Fatal(err)
		}
		var res []model.Reservation
		var got []error
		for _, o := range ops {
			switch o.kind {
			case "reserve":
				r := model.Reservation{UserID: uid, TokenID: tids[0], Unlimited: unlimited, Amount: o.amount}
				err := l.Reserve(ctx, r)
				got = append(got, err)
				res = append(res, r)
			case "bill":
				if err := l.Settle(ctx, model.Settlement{Reservation: res[o.i], ChannelID: 0, Quota: o.amount}); err != nil {
					t.Fatal(err)
				}
			case "release":
				if err := l.Release(ctx, res[o.i]); err != nil {
					t.Fatal(err)
				}
			case "credit":
				if err := l.Credit(ctx, uid, func(tx model.Tx) (int64, error) { return o.amount, tx.AddUserQuota(uid, o.amount) }); err != nil {
					t.Fatal(err)
				}
			}
		}
		return readRows(t, db, uid, tids[0]), got
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := openPhaseBStore(t)
			direct := DirectFor(st)
			wantRows, wantErrs := run(t, direct, st.Gorm(), tc.user, tc.tok, tc.unlimited, tc.ops)
			h, db := newHold(t)
			gotRows, gotErrs := run(t, h, db, tc.user, tc.tok, tc.unlimited, tc.ops)
			n := 0
			for _, o := range tc.ops {
				if o.kind != "reserve" {
					continue
				}
				if !errors.Is(wantErrs[n], o.want) || !errors.Is(gotErrs[n], o.want) {
					t.Errorf("reservation %d: Direct %v, Hold %v, want %v", n, wantErrs[n], gotErrs[n], o.want)
				}
				n++
			}
			if gotRows != wantRows {
				t.Errorf("rows after the calls: Hold %+v, Direct %+v", gotRows, wantRows)
			}
		})
	}
}

// TestHoldExactUnderConcurrency: 32 clients reserve, bill or release while
// an admin credits the user and the balances are forgotten and re-read; at
// the end each row is its initial balance plus the credits minus exactly
// what was billed, the counts match, and since no bill costs more than its
// reservation no balance ever went below 0 (Direct's rule: a reservation is
// granted only if the balance covers it).
func TestHoldExactUnderConcurrency(t *testing.T) {
	h, db := newHold(t)
	ctx := context.Background()
	const userInitial, tokenInitial = 50_000, 30_000
	uid, tids := seedUserTokens(t, db, "u", userInitial, "k1", "k2")
	for _, id := range tids {
		if err := db.Model(&model.Token{}).Where("id = ?", id).Update("remain_quota", tokenInitial).Error; err != nil {
			t.Fatal(err)
		}
	}
	var billed, bills, credited atomic.Int64
	var tokenBilled [2]atomic.Int64
	var refused atomic.Int64
	stop := make(chan struct{})
	var admin sync.WaitGroup
	admin.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := h.Credit(ctx, uid, func(tx model.Tx) (int64, error) { return 20, tx.AddUserQuota(uid, 20) }); err != nil {
				t.Error(err)
				return
			}
			credited.Add(20)
			h.Forget(uid)
			h.ForgetToken(tids[0])
		}
	})
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 150 {
				k := rng.IntN(2)
				r := model.Reservation{UserID: uid, TokenID: tids[k], Amount: 50 + rng.Int64N(100)}
				err := h.Reserve(ctx, r)
				if errors.Is(err, model.ErrUserQuotaExhausted) || errors.Is(err, model.ErrTokenQuotaExhausted) {
					refused.Add(1)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if rng.IntN(5) == 0 {
					if err := h.Release(ctx, r); err != nil {
						t.Error(err)
					}
					continue
				}
				cost := rng.Int64N(r.Amount + 1)
				if err := h.Settle(ctx, model.Settlement{Reservation: r, Quota: cost}); err != nil {
					t.Error(err)
					continue
				}
				billed.Add(cost)
				bills.Add(1)
				tokenBilled[k].Add(cost)
			}
		})
	}
	wg.Wait()
	close(stop)
	admin.Wait()
	if refused.Load() == 0 {
		t.Fatal("no reservation was refused: the balances never ran short, so the test checked no refusal")
	}
	for k, id := range tids {
		got := readRows(t, db, uid, id)
		if k == 0 {
			want := rows{quota: userInitial + credited.Load() - billed.Load(), used: billed.Load(), count: bills.Load()}
			if got.quota != want.quota || got.used != want.used || got.count != want.count {
				t.Errorf("user: quota %d used %d requests %d, want %d %d %d", got.quota, got.used, got.count, want.quota, want.used, want.count)
			}
			if got.quota < 0 {
				t.Errorf("user balance %d: a reservation was granted that Direct would refuse", got.quota)
			}
		}
		if want := tokenInitial - tokenBilled[k].Load(); got.remain != want || got.tokenUsed != tokenBilled[k].Load() {
			t.Errorf("token %d: remain %d used %d, want %d %d", k, got.remain, got.tokenUsed, want, tokenBilled[k].Load())
		}
		if got.remain < 0 {
			t.Errorf("token %d balance %d: a reservation was granted that Direct would refuse", k, got.remain)
		}
	}
	// Nothing is held any more: a fresh read grants exactly the balance.
	h.Forget(uid)
	r := readRows(t, db, uid, tids[0])
	if r.quota > 0 {
		if err := h.Reserve(ctx, model.Reservation{UserID: uid, Unlimited: true, Amount: r.quota + 1}); !errors.Is(err, model.ErrUserQuotaExhausted) {
			t.Errorf("reserving one more than the balance: %v, want refused", err)
		}
		if err := h.Reserve(ctx, model.Reservation{UserID: uid, Unlimited: true, Amount: r.quota}); err != nil {
			t.Errorf("reserving the whole balance: %v", err)
		}
	}
}

// TestHoldAdminWriteWhileHeld: an admin saving the row as read while a
// request is in flight (an edit of another field) and an absolute new value
// both leave the balance the request's cost below what was written, and
// the hold keeps counting against the new value until the bill.
func TestHoldAdminWriteWhileHeld(t *testing.T) {
	h, db := newHold(t)
	ctx := context.Background()
	uid, _ := seedUserTokens(t, db, "u", 1000, "k")
	r := model.Reservation{UserID: uid, Unlimited: true, Amount: 300}
	if err := h.Reserve(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := h.Apply(ctx, func(tx model.Tx) error {
		return tx.Gorm().Model(&model.User{}).Where("id = ?", uid).Update("quota", 500).Error
	}); err != nil {
		t.Fatal(err)
	}
	// 500 − 300 held: 200 may be reserved, not 201.
	if err := h.Reserve(ctx, model.Reservation{UserID: uid, Unlimited: true, Amount: 201}); !errors.Is(err, model.ErrUserQuotaExhausted) {
		t.Fatalf("reserve 201 of 500 with 300 held: %v, want refused", err)
	}
	if err := h.Settle(ctx, model.Settlement{Reservation: r, Quota: 120}); err != nil {
		t.Fatal(err)
	}
	var quota int64
	if err := db.Raw("SELECT quota FROM users WHERE id = ?", uid).Row().Scan(&quota); err != nil {
		t.Fatal(err)
	}
	if quota != 380 {
		t.Errorf("quota %d after setting 500 and billing 120, want 380", quota)
	}
	if err := h.Reserve(ctx, model.Reservation{UserID: uid, Unlimited: true, Amount: 380}); err != nil {
		t.Errorf("reserve the whole 380 left: %v", err)
	}
}

// TestHoldKilledBeforeBillChargesNothing: a process that reserved and died
// before billing (a kill -9: its memory is gone, nothing else runs) left
// the rows untouched, and a bill that returned is in the database for the
// next process.
func TestHoldKilledBeforeBillChargesNothing(t *testing.T) {
	st := openPhaseBStore(t)
	db := st.Gorm()
	ctx := context.Background()
	uid, tids := seedUserTokens(t, db, "u", 1000, "k")
	before := readRows(t, db, uid, tids[0])

	group := st.GroupLedger()
	h := HoldFor(st, group)
	billed := model.Reservation{UserID: uid, TokenID: tids[0], Amount: 200}
	cut := model.Reservation{UserID: uid, TokenID: tids[0], Amount: 300}
	for _, r := range []model.Reservation{billed, cut} {
		if err := h.Reserve(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Bill(ctx, model.Settlement{Reservation: billed, Quota: 150}, &model.Log{UserID: uid, Type: model.LogConsume, Quota: 150, RequestID: "billed"}); err != nil {
		t.Fatal(err)
	}
	// The kill: h and its hold of 300 are dropped without Release or Close.
	// (The committer is idle; stopping it writes nothing.)
	group.Close(ctx)

	want := before
	want.quota, want.used, want.count, want.remain, want.tokenUsed = before.quota-150, 150, 1, before.remain-150, 150
	if got := readRows(t, db, uid, tids[0]); got != want {
		t.Errorf("rows after the kill: %+v, want %+v (the bill only; the cut request's 300 not taken)", got, want)
	}
	var logs int64
	if err := db.Model(&model.Log{}).Where("request_id = ?", "billed").Count(&logs).Error; err != nil {
		t.Fatal(err)
	}
	if logs != 1 {
		t.Errorf("%d consume logs for the billed request, want 1", logs)
	}
	// The next process reserves against the whole balance left.
	g2 := st.GroupLedger()
	defer g2.Close(ctx)
	if err := HoldFor(st, g2).Reserve(ctx, model.Reservation{UserID: uid, Unlimited: true, Amount: before.quota - 150}); err != nil {
		t.Errorf("after the restart the balance left is not all reservable: %v", err)
	}
}

// BenchmarkDefaultsWritePath is one request's ledger work with the defaults
// on SQLite, from 64 concurrent requests: a reservation, then the bill with
// its consume log. "group": both are group commits (model.GroupLedger, as
// on PostgreSQL and MySQL); "hold": the reservation in memory, the bill
// the only commit (ledger.Hold).
func BenchmarkDefaultsWritePath(b *testing.B) {
	for _, name := range []string{"group", "hold"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			st, uid, tids := openRichStore(b)
			group := st.GroupLedger()
			defer group.Close(ctx)
			var l interface {
				model.QuotaLedger
				model.Biller
			} = group
			if name == "hold" {
				l = HoldFor(st, group)
			}
			stmts := countStatements(b, st.Gorm())
			b.ReportAllocs()
			b.SetParallelism(32) // 64 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := model.Reservation{UserID: uid, TokenID: tids[0], Amount: 500}
					if err := l.Reserve(ctx, r); err != nil {
						b.Error(err)
						return
					}
					s := model.Settlement{Reservation: r, ChannelID: 1, Quota: 321}
					if err := l.Bill(ctx, s, &model.Log{UserID: uid, Type: model.LogConsume, Quota: 321, ChannelID: 1, Content: "model ratio 1.00"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(stmts.Load())/float64(b.N), "stmts/op")
		})
	}
}

// TestHoldSeesWritesOutsideTheGateway: a balance set to 0 by hand (sqlite3,
// a script) stops reservations once the refresh interval has passed, and a
// top-up by hand becomes spendable, each without losing what is held.
func TestHoldSeesWritesOutsideTheGateway(t *testing.T) {
	h, db := newHold(t)
	h.refresh = time.Hour
	ctx := context.Background()
	uid, _ := seedUserTokens(t, db, "u", 1000, "k")
	held := model.Reservation{UserID: uid, Unlimited: true, Amount: 100}
	if err := h.Reserve(ctx, held); err != nil {
		t.Fatal(err)
	}
	set := func(q int64) {
		t.Helper()
		if err := db.Model(&model.User{}).Where("id = ?", uid).Update("quota", q).Error; err != nil {
			t.Fatal(err)
		}
	}
	one := model.Reservation{UserID: uid, Unlimited: true, Amount: 1}
	set(0)
	if err := h.Reserve(ctx, one); err != nil {
		t.Fatalf("within the interval the old balance still counts: %v", err)
	}
	h.nextRefresh.Store(0) // the interval has passed
	if err := h.Reserve(ctx, one); !errors.Is(err, model.ErrUserQuotaExhausted) {
		t.Fatalf("after the interval, quota set to 0 by hand: %v, want refused", err)
	}
	set(300) // 300 − 101 held: 199 left
	h.nextRefresh.Store(0)
	if err := h.Reserve(ctx, model.Reservation{UserID: uid, Unlimited: true, Amount: 200}); !errors.Is(err, model.ErrUserQuotaExhausted) {
		t.Fatalf("reserve 200 of 300 with 101 held: %v, want refused", err)
	}
	if err := h.Reserve(ctx, model.Reservation{UserID: uid, Unlimited: true, Amount: 199}); err != nil {
		t.Fatalf("reserve 199 of 300 with 101 held: %v", err)
	}
}
