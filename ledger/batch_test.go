package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"gorm.io/gorm"

	"one-api/model"
)

// newTestBatchLedger returns a ledger that is never started: it flushes
// only when the test says so.
func newTestBatchLedger(t testing.TB, db *gorm.DB, onFlush func(int, error)) *Batch {
	t.Helper()
	l := NewBatch(db, BatchOptions{Interval: 5 * time.Second, OnFlush: onFlush})
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

func TestBatchLedgerTokenAtLimit(t *testing.T) {
	ctx := context.Background()
	st := openPhaseBStore(t)
	uid, tids := seedUserTokens(t, st.Gorm(), "alice", 1<<40, "k") // token remain 1000
	l := newTestBatchLedger(t, st.Gorm(), nil)
	queries := countStatements(t, st.Gorm())
	r := model.Reservation{UserID: uid, TokenID: tids[0], Amount: 600}
	if err := l.Reserve(ctx, r); err != nil {
		t.Fatalf("first Reserve: %v", err)
	}
	if err := l.Reserve(ctx, r); !errors.Is(err, model.ErrTokenQuotaExhausted) {
		t.Fatalf("second Reserve = %v, want model.ErrTokenQuotaExhausted (400 left)", err)
	}
	if err := l.Reserve(ctx, model.Reservation{UserID: uid, TokenID: tids[0], Amount: 400}); err != nil {
		t.Fatalf("Reserve of exactly what is left: %v", err)
	}
	if err := l.Reserve(ctx, model.Reservation{UserID: uid, TokenID: tids[0], Amount: 0}); !errors.Is(err, model.ErrTokenQuotaExhausted) {
		t.Fatalf("Reserve at 0 = %v, want model.ErrTokenQuotaExhausted", err)
	}
	if g := queries.Load(); g != 2 {
		t.Errorf("%d queries for four Reserves, want 2 (one balance load each for user and token)", g)
	}
	// A request that cost more than it reserved overdraws by its own excess
	// only, as with DirectLedger; the next one is refused.
	if err := l.Settle(ctx, model.Settlement{Reservation: r, Quota: 700}); err != nil {
		t.Fatal(err)
	}
	if err := l.Reserve(ctx, model.Reservation{UserID: uid, TokenID: tids[0], Amount: 1}); !errors.Is(err, model.ErrTokenQuotaExhausted) {
		t.Fatalf("Reserve after overdraw = %v, want model.ErrTokenQuotaExhausted", err)
	}
	// The user's own balance is checked first.
	poor, ptids := seedUserTokens(t, st.Gorm(), "bob", 50, "kb")
	if err := l.Reserve(ctx, model.Reservation{UserID: poor, TokenID: ptids[0], Amount: 51}); !errors.Is(err, model.ErrUserQuotaExhausted) {
		t.Fatalf("Reserve past the user's quota = %v, want model.ErrUserQuotaExhausted", err)
	}
	broke, btids := seedUserTokens(t, st.Gorm(), "carol", 0, "kc")
	if err := l.Reserve(ctx, model.Reservation{UserID: broke, TokenID: btids[0], Amount: 0}); !errors.Is(err, model.ErrUserQuotaExhausted) {
		t.Fatalf("Reserve of 0 at a zero balance = %v, want model.ErrUserQuotaExhausted", err)
	}
}

func TestBatchLedgerForgetAfterTopUp(t *testing.T) {
	ctx := context.Background()
	st := openPhaseBStore(t)
	uid, tids := seedUserTokens(t, st.Gorm(), "alice", 100, "k")
	l := newTestBatchLedger(t, st.Gorm(), nil)
	r := model.Reservation{UserID: uid, TokenID: tids[0], Amount: 100}
	if err := l.Reserve(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := l.Reserve(ctx, model.Reservation{UserID: uid, TokenID: tids[0], Amount: 1}); !errors.Is(err, model.ErrUserQuotaExhausted) {
		t.Fatalf("Reserve at 0 = %v, want model.ErrUserQuotaExhausted", err)
	}
	// The admin tops up (a relative write) and tells the ledger.
	st.Gorm().Model(&model.User{}).Where("id = ?", uid).Update("quota", gorm.Expr("quota + ?", 500))
	l.Forget(uid)
	if err := l.Reserve(ctx, model.Reservation{UserID: uid, TokenID: tids[0], Amount: 500}); err != nil {
		t.Fatalf("Reserve of the top-up: %v", err)
	}
	if err := l.Reserve(ctx, model.Reservation{UserID: uid, TokenID: tids[0], Amount: 1}); !errors.Is(err, model.ErrUserQuotaExhausted) {
		t.Fatalf("Reserve past the top-up = %v, want model.ErrUserQuotaExhausted", err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var u model.User
	st.Gorm().First(&u, uid)
	if u.Quota != 0 {
		t.Errorf("quota = %d, want 0 (100 + 500 top-up − 600 reserved)", u.Quota)
	}
}

// onceDuring runs f inside the next UPDATE of table, i.e. while a flush
// transaction is open and the ledger's deltas are in flight.
func onceDuring(t *testing.T, db *gorm.DB, table string, f func()) {
	t.Helper()
	var once sync.Once
	if err := db.Callback().Update().Before("gorm:update").Register("phaseb:during", func(tx *gorm.DB) {
		if tx.Statement.Table == table {
			once.Do(f)
		}
	}); err != nil {
		t.Fatal(err)
	}
}

func TestBatchLedgerMovementDuringFlush(t *testing.T) {
	tests := []struct {
		name      string
		userQuota int64
		unlimited bool
		pending   func(l *Batch, uid, tid int) int64
		refusal   error
	}{
		{"user balance", 1000, true, func(l *Batch, uid, _ int) int64 { return l.Pending(uid).Quota }, model.ErrUserQuotaExhausted},
		{"token balance", 1 << 40, false, func(l *Batch, _, tid int) int64 { return l.PendingToken(tid).RemainQuota }, model.ErrTokenQuotaExhausted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := openPhaseBStore(t)
			uid, tids := seedUserTokens(t, st.Gorm(), "alice", tc.userQuota, "k") // token remain 1000
			l := newTestBatchLedger(t, st.Gorm(), nil)
			reserve := func(n int64) error {
				return l.Reserve(ctx, model.Reservation{UserID: uid, TokenID: tids[0], Unlimited: tc.unlimited, Amount: n})
			}
			if err := reserve(100); err != nil {
				t.Fatal(err)
			}
			onceDuring(t, st.Gorm(), "users", func() {
				if err := reserve(300); err != nil {
					t.Errorf("Reserve during flush: %v", err)
				}
				if g := tc.pending(l, uid, tids[0]); g != -400 {
					t.Errorf("pending during flush = %d, want -400 (100 in flight + 300 new)", g)
				}
			})
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			// The read-back after the flush says 900; 300 more are pending: 600 left.
			if err := reserve(600); err != nil {
				t.Fatalf("Reserve of the last 600: %v", err)
			}
			if err := reserve(1); !errors.Is(err, tc.refusal) {
				t.Fatalf("Reserve past the balance = %v, want %v", err, tc.refusal)
			}
		})
	}
}

func TestBatchLedgerMovementDuringApply(t *testing.T) {
	ctx := context.Background()
	st := openPhaseBStore(t)
	uid, _ := seedUserTokens(t, st.Gorm(), "alice", 1000)
	l := newTestBatchLedger(t, st.Gorm(), nil)
	r := model.Reservation{UserID: uid, Unlimited: true, Amount: 100}
	if err := errors.Join(l.Reserve(ctx, r), l.Flush(ctx)); err != nil {
		t.Fatal(err)
	}
	err := l.Apply(ctx, func(x model.Tx) error {
		tx := x.Gorm()
		// A request reserves while the admin's edit is being written: it
		// lands after the edit, as it would with DirectLedger had it come
		// a moment later.
		if err := l.Reserve(ctx, r); err != nil {
			t.Errorf("Reserve during Apply: %v", err)
		}
		return tx.Model(&model.User{}).Where("id = ?", uid).Update("quota", 5000).Error
	})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := l.Reserve(ctx, model.Reservation{UserID: uid, Unlimited: true, Amount: 4900}); err != nil {
		t.Fatalf("Reserve of 5000 − 100: %v", err)
	}
	if err := l.Reserve(ctx, model.Reservation{UserID: uid, Unlimited: true, Amount: 1}); !errors.Is(err, model.ErrUserQuotaExhausted) {
		t.Fatalf("Reserve past it = %v, want model.ErrUserQuotaExhausted", err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var u model.User
	st.Gorm().First(&u, uid)
	if u.Quota != 0 {
		t.Errorf("quota = %d, want 0", u.Quota)
	}
}

func TestBatchLedgerForgetsIdleAccounts(t *testing.T) {
	ctx := context.Background()
	st := openPhaseBStore(t)
	uid, tids := seedUserTokens(t, st.Gorm(), "alice", 1000, "k")
	l := newTestBatchLedger(t, st.Gorm(), nil)
	if err := l.Reserve(ctx, model.Reservation{UserID: uid, TokenID: tids[0], Amount: 10}); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if g := l.Stats().Accounts; g != 2 {
		t.Errorf("accounts after a flush that wrote them = %d, want 2", g)
	}
	bob, btids := seedUserTokens(t, st.Gorm(), "bob", 1000, "kb")
	if err := errors.Join(l.Reserve(ctx, model.Reservation{UserID: bob, TokenID: btids[0], Amount: 10}), l.Flush(ctx)); err != nil {
		t.Fatal(err)
	}
	if g := l.Stats().Accounts; g != 2 {
		t.Errorf("accounts after alice idled an interval = %d, want 2 (bob's)", g)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if g := l.Stats().Accounts; g != 0 {
		t.Errorf("accounts after an idle interval = %d, want 0", g)
	}
}

func TestBatchLedgerConcurrentReservesCannotOverspend(t *testing.T) {
	ctx := context.Background()
	st := openPhaseBStore(t)
	uid, tids := seedUserTokens(t, st.Gorm(), "alice", 1<<40, "k") // token remain 1000
	l := newTestBatchLedger(t, st.Gorm(), nil)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			switch err := l.Reserve(ctx, model.Reservation{UserID: uid, TokenID: tids[0], Amount: 100}); {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, model.ErrTokenQuotaExhausted):
				t.Errorf("Reserve: %v", err)
			}
		})
	}
	wg.Wait()
	if g := ok.Load(); g != 10 {
		t.Errorf("%d of 64 reservations of 100 granted on a 1000 balance, want 10", g)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var tok model.Token
	st.Gorm().First(&tok, tids[0])
	if tok.RemainQuota != 0 {
		t.Errorf("remain_quota = %d, want 0", tok.RemainQuota)
	}
}

func TestBatchLedgerFailedFlushesLoseNothing(t *testing.T) {
	ctx := context.Background()
	dst, bst := openPhaseBStore(t), openPhaseBStore(t)
	f := seedLedger(t, dst.Gorm())
	seedLedger(t, bst.Gorm())
	direct := NewDirect(dst.Gorm())
	var events []error
	batch := newTestBatchLedger(t, bst.Gorm(), func(_ int, err error) { events = append(events, err) })
	left := failStatements(t, bst.Gorm(), "update", "tokens", 2)

	rich := f.users[3]
	tok := f.tokens[9] // rich user's 600-quota token
	work := func(n int) {
		for i := range n {
			r := model.Reservation{UserID: rich, TokenID: tok.id, Amount: 20}
			s := model.Settlement{Reservation: r, ChannelID: f.channels[i%2], Quota: int64(10 + i)}
			for _, l := range []model.QuotaLedger{direct, batch} {
				if err := errors.Join(l.Reserve(ctx, r), l.Settle(ctx, s)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	work(5)
	if err := batch.Flush(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("first Flush = %v, want the injected failure", err)
	}
	work(3)
	compareLedgerStates(t, "between failures, row+Pending", withPending(readLedgerState(t, bst.Gorm()), batch), readLedgerState(t, dst.Gorm()))
	if err := batch.Flush(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("second Flush = %v, want the injected failure", err)
	}
	work(2)
	if err := batch.Flush(ctx); err != nil {
		t.Fatalf("third Flush: %v", err)
	}
	if left.Load() != 0 {
		t.Fatal("injected failures unused")
	}
	compareLedgerStates(t, "after recovery", readLedgerState(t, bst.Gorm()), readLedgerState(t, dst.Gorm()))
	if s := batch.Stats(); s.FailedFlushes != 2 || s.Flushes != 1 || len(events) != 3 {
		t.Errorf("stats = %+v, %d flush events; want 2 failed, 1 flush, 3 events", s, len(events))
	}
}

func TestBatchLedgerFlushIsOneTransactionOfRelativeUpdates(t *testing.T) {
	ctx := context.Background()
	st := openPhaseBStore(t)
	f := seedLedger(t, st.Gorm())
	l := newTestBatchLedger(t, st.Gorm(), nil)
	for _, tk := range []ledgerToken{f.tokens[6], f.tokens[9], f.tokens[11]} {
		r := model.Reservation{UserID: tk.user, TokenID: tk.id, Unlimited: tk.unlimited, Amount: 5}
		if err := errors.Join(l.Reserve(ctx, r), l.Settle(ctx, model.Settlement{Reservation: r, ChannelID: f.channels[0], Quota: 7})); err != nil {
			t.Fatal(err)
		}
	}
	var sqls []string
	var mu sync.Mutex
	if err := st.Gorm().Callback().Update().After("gorm:update").Register("phaseb:sql", func(tx *gorm.DB) {
		mu.Lock()
		sqls = append(sqls, tx.Statement.SQL.String())
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	queries := countStatements(t, st.Gorm())
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// 2 users + 2 limited tokens + 1 channel, then one read-back per table.
	if g, w := queries.Load(), int64(7); g != w {
		t.Errorf("flush made %d statements, want %d", g, w)
	}
	if len(sqls) != 5 {
		t.Fatalf("UPDATEs = %q, want 5", sqls)
	}
	for _, q := range sqls {
		for _, col := range []string{"quota", "used_quota", "request_count", "remain_quota"} {
			if strings.Contains(q, "`"+col+"`=") || strings.Contains(q, `"`+col+`"=`) {
				if !strings.Contains(q, "="+col+" + ") {
					t.Errorf("%s is not written as %s + delta: %s", col, col, q)
				}
			}
		}
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if g := queries.Load(); g != 7 {
		t.Errorf("an empty flush made %d statements", g-7)
	}
}

// In a synctest bubble the flusher's ticker runs on the bubble's fake
// clock: the test moves time by the interval, and nothing flushes before.
func TestBatchLedgerFlushesOnInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st := openPhaseBStore(t)
		uid, tids := seedUserTokens(t, st.Gorm(), "alice", 10000, "k")
		flushed := make(chan error, 10)
		l := NewBatch(st.Gorm(), BatchOptions{Interval: 5 * time.Second, OnFlush: func(_ int, err error) { flushed <- err }})
		t.Cleanup(func() { l.Close(context.Background()) })
		l.Start()
		r := model.Reservation{UserID: uid, TokenID: tids[0], Amount: 100}
		if err := errors.Join(l.Reserve(ctx, r), l.Settle(ctx, model.Settlement{Reservation: r, Quota: 40})); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5*time.Second - time.Nanosecond)
		synctest.Wait()
		if len(flushed) != 0 {
			t.Fatal("flushed before the interval")
		}
		time.Sleep(time.Nanosecond)
		if err := <-flushed; err != nil {
			t.Fatalf("flush: %v", err)
		}
		var u model.User
		st.Gorm().First(&u, uid)
		if u.Quota != 9960 || u.UsedQuota != 40 || u.RequestCount != 1 {
			t.Errorf("user after tick = quota %d used %d count %d, want 9960 40 1", u.Quota, u.UsedQuota, u.RequestCount)
		}
	})
}

func TestBatchLedgerClose(t *testing.T) {
	ctx := context.Background()
	st := openPhaseBStore(t)
	uid, tids := seedUserTokens(t, st.Gorm(), "alice", 10000, "k")
	l := NewBatch(st.Gorm(), BatchOptions{Interval: time.Hour})
	l.Start()
	r := model.Reservation{UserID: uid, TokenID: tids[0], Amount: 100}
	if err := errors.Join(l.Reserve(ctx, r), l.Settle(ctx, model.Settlement{Reservation: r, Quota: 30})); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var u model.User
	st.Gorm().First(&u, uid)
	if u.Quota != 9970 || u.UsedQuota != 30 {
		t.Errorf("after Close: quota %d used %d, want 9970 30", u.Quota, u.UsedQuota)
	}
	// After Close every call writes through.
	if err := l.Settle(ctx, model.Settlement{Reservation: model.Reservation{UserID: uid, TokenID: tids[0]}, Quota: 5}); err != nil {
		t.Fatal(err)
	}
	st.Gorm().First(&u, uid)
	if u.Quota != 9965 || u.RequestCount != 2 {
		t.Errorf("after Settle past Close: quota %d count %d, want 9965 2", u.Quota, u.RequestCount)
	}
}

func TestBatchLedgerCloseReportsWhatItCouldNotFlush(t *testing.T) {
	st := openPhaseBStore(t)
	logs := captureLog(t)
	uid, tids := seedUserTokens(t, st.Gorm(), "alice", 10000, "k")
	failStatements(t, st.Gorm(), "update", "users", 1<<30)
	l := NewBatch(st.Gorm(), BatchOptions{Interval: time.Hour})
	if err := l.Settle(context.Background(), model.Settlement{Reservation: model.Reservation{UserID: uid, TokenID: tids[0], Amount: 10}, Quota: 25}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Close(ctx); err == nil || !strings.Contains(err.Error(), "not flushed") {
		t.Fatalf("Close = %v, want an error saying what was not flushed", err)
	}
	want := fmt.Sprintf("unflushed quota delta: user %d quota -15 used_quota +25 request_count +1", uid)
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs)
	}
}

func TestBatchLedgerConcurrent(t *testing.T) {
	ctx := context.Background()
	st := openPhaseBStore(t)
	f := seedLedger(t, st.Gorm())
	before := readLedgerState(t, st.Gorm())
	l := newTestBatchLedger(t, st.Gorm(), nil)
	stop := make(chan struct{})
	flusher := make(chan struct{})
	go func() {
		defer close(flusher)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := l.Flush(ctx); err != nil {
				t.Errorf("Flush: %v", err)
			}
			l.Forget(f.users[3])
		}
	}()
	var wg sync.WaitGroup
	settled := make([]atomic.Int64, len(f.tokens))
	var channelSum atomic.Int64
	for g := range 64 {
		wg.Go(func() {
			for i := range 40 {
				ti := (g + i) % len(f.tokens)
				tk := f.tokens[ti]
				r := model.Reservation{UserID: tk.user, TokenID: tk.id, Unlimited: tk.unlimited, Amount: int64(i % 7 * 10)}
				if err := l.Reserve(ctx, r); err != nil {
					continue
				}
				if i%5 == 0 {
					if err := l.Release(ctx, r); err != nil {
						t.Error(err)
					}
					continue
				}
				q := int64(i % 11)
				if err := l.Settle(ctx, model.Settlement{Reservation: r, ChannelID: f.channels[0], Quota: q}); err != nil {
					t.Error(err)
				}
				settled[ti].Add(q)
				channelSum.Add(q)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-flusher
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	after := readLedgerState(t, st.Gorm())
	for _, uid := range f.users {
		b, a := before.users[uid], after.users[uid]
		if b.Quota-a.Quota != a.UsedQuota {
			t.Errorf("user %d: quota went %d → %d but used_quota is %d", uid, b.Quota, a.Quota, a.UsedQuota)
		}
	}
	for ti, tk := range f.tokens {
		a := after.tokens[tk.id]
		if a.UsedQuota != settled[ti].Load() && !tk.unlimited {
			t.Errorf("token %d used_quota = %d, want %d", tk.id, a.UsedQuota, settled[ti].Load())
		}
		if b := before.tokens[tk.id]; !tk.unlimited && b.RemainQuota-a.RemainQuota != a.UsedQuota {
			t.Errorf("token %d: remain went %d → %d but used_quota is %d", tk.id, b.RemainQuota, a.RemainQuota, a.UsedQuota)
		}
	}
	if g := after.channels[f.channels[0]]; g != channelSum.Load() {
		t.Errorf("channel used_quota = %d, want %d", g, channelSum.Load())
	}
}

// BenchmarkLedgerReserveSettle is one relayed request's quota work. The batch
// ledger flushes every 1,000 requests, standing in for its interval.
func BenchmarkLedgerReserveSettle(b *testing.B) {
	for _, name := range []string{"direct", "batch"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			st, uid, tids := openRichStore(b)
			var l model.QuotaLedger = NewDirect(st.Gorm())
			var batch *Batch
			if name == "batch" {
				batch = NewBatch(st.Gorm(), BatchOptions{Interval: time.Hour})
				l = batch
			}
			stmts := countStatements(b, st.Gorm())
			r := model.Reservation{UserID: uid, TokenID: tids[0], Amount: 500}
			s := model.Settlement{Reservation: r, ChannelID: 1, Quota: 321}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := errors.Join(l.Reserve(ctx, r), l.Settle(ctx, s)); err != nil {
					b.Fatal(err)
				}
				if batch != nil && i%1000 == 999 {
					if err := batch.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			if batch != nil {
				if err := batch.Close(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(stmts.Load())/float64(b.N), "stmts/op")
		})
	}
}
