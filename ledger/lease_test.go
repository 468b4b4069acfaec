package ledger

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"one-api/internal/testdb"
	"one-api/model"
)

// clock is a LeaseOptions.Now a test moves forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func (c *clock) opts(node string) LeaseOptions {
	return LeaseOptions{Node: node, TTL: time.Hour, Now: c.now}
}

// newLeaseNode is one gateway node's ledger on db: a Batch with leases,
// flushing only when the test says so (or every interval once started).
func newLeaseNode(t testing.TB, db *gorm.DB, interval time.Duration, o LeaseOptions) *Batch {
	t.Helper()
	l := NewBatch(db, BatchOptions{Interval: interval})
	if err := l.EnableLeases(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

// balances reads an account's balance and used_quota columns.
func balances(t testing.TB, db *gorm.DB, id accountID) (balance, used int64) {
	t.Helper()
	tb := id.kind.table()
	var row struct{ Bal, Used int64 }
	if err := db.Model(tb.model).Select(tb.balance+" AS bal, used_quota AS used").Where("id = ?", id.id).Scan(&row).Error; err != nil {
		t.Fatal(err)
	}
	return row.Bal, row.Used
}

// closeNodes stops the nodes cleanly and checks that they left no claim.
func closeNodes(t testing.TB, db *gorm.DB, nodes ...*Batch) {
	t.Helper()
	for _, l := range nodes {
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if rows := claims(t, db); len(rows) != 0 {
		t.Errorf("claims left after the nodes stopped: %+v", rows)
	}
}

func claims(t testing.TB, db *gorm.DB) []quotaLease {
	t.Helper()
	var rows []quotaLease
	if err := db.Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

// spend reserves and settles r on l until refused, and returns what it
// charged. Each settlement costs less than its reservation (no overage), so
// any overspend shows as a negative balance.
func spend(ctx context.Context, l *Batch, r model.Reservation, charge func() int64) (charged int64, err error) {
	for {
		if err := l.Reserve(ctx, r); err != nil {
			return charged, err
		}
		q := charge()
		if err := l.Settle(ctx, model.Settlement{Reservation: r, Quota: q}); err != nil {
			return charged, err
		}
		charged += q
	}
}

// Two nodes on one database spend one user's balance and one token's,
// concurrently, until both are refused: neither balance goes below zero,
// each ends as initial − used_quota, almost all of it was spendable, and
// after both stop cleanly no claim is left.
func TestLeaseTwoNodesSpendToRefusal(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *model.Store) {
		ctx := context.Background()
		db := s.Gorm()
		const userQuota, tokenQuota, maxAmount = 20_000, 1000, 60
		uid, tids := seedUserTokens(t, db, "alice", userQuota, "k") // token remain 1000
		var c clock
		nodes := []*Batch{
			newLeaseNode(t, db, 20*time.Millisecond, c.opts("node-a")),
			newLeaseNode(t, db, 20*time.Millisecond, c.opts("node-b")),
		}
		var wg sync.WaitGroup
		var failed atomic.Value
		for _, l := range nodes {
			l.Start()
			for range 4 {
				wg.Go(func() {
					amount := int64(10 + rand.IntN(maxAmount-10))
					charge := func() int64 { return amount - rand.Int64N(10) }
					r := model.Reservation{UserID: uid, TokenID: tids[0], Amount: amount}
					_, err := spend(ctx, l, r, charge)
					if errors.Is(err, model.ErrUserQuotaExhausted) {
						return // the others spent the user before this one saw the token refused
					}
					if !errors.Is(err, model.ErrTokenQuotaExhausted) {
						failed.Store(err)
						return
					}
					r.Unlimited = true // the token is spent: go on with the user's balance
					if _, err := spend(ctx, l, r, charge); !errors.Is(err, model.ErrUserQuotaExhausted) {
						failed.Store(err)
					}
				})
			}
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			t.Fatalf("a spender stopped on %v, want the exhausted errors", err)
		}
		closeNodes(t, db, nodes...)
		for _, a := range []struct {
			id      accountID
			initial int64
		}{{accountID{userKind, uid}, userQuota}, {accountID{tokenKind, tids[0]}, tokenQuota}} {
			bal, used := balances(t, db, a.id)
			if bal != a.initial-used {
				t.Errorf("%s: balance %d, used_quota %d: want balance = %d − used_quota", a.id, bal, used, a.initial)
			}
			// Each node stops at a refusal, when its lease and the free
			// balance together were short of one reservation; refunds of
			// requests in flight then may add a little.
			if bal < 0 || bal >= 4*maxAmount {
				t.Errorf("%s: %d left after both nodes were refused, want 0 to %d", a.id, bal, 4*maxAmount)
			}
		}
	})
}

// A node killed with a lease held and movements unflushed: the survivor can
// spend everything but the dead node's claim until the claim expires, then
// the rest; the balance is initial − used_quota of what was flushed.
func TestLeaseKilledNodesClaimExpires(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *model.Store) {
		ctx := context.Background()
		db := s.Gorm()
		const initial = 10_000
		uid, _ := seedUserTokens(t, db, "bob", initial)
		var ca, cb clock
		dead := NewBatch(db, BatchOptions{Interval: time.Second}) // never closed: killed
		if err := dead.EnableLeases(ctx, ca.opts("dead")); err != nil {
			t.Fatal(err)
		}
		r := model.Reservation{UserID: uid, Unlimited: true, Amount: 100}
		for range 3 {
			if err := dead.Reserve(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := dead.Settle(ctx, model.Settlement{Reservation: r, Quota: 100}); err != nil {
				t.Fatal(err)
			}
		}
		if err := dead.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// One more charge, never flushed: lost with the node, as a plain
		// Batch's last interval is.
		if err := dead.Reserve(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := dead.Settle(ctx, model.Settlement{Reservation: r, Quota: 100}); err != nil {
			t.Fatal(err)
		}
		rows := claims(t, db)
		if len(rows) != 1 || rows[0].Node != "dead" || rows[0].Amount <= 0 {
			t.Fatalf("claims of the killed node = %+v, want its one row", rows)
		}
		held := rows[0].Amount

		survivor := newLeaseNode(t, db, time.Second, cb.opts("survivor"))
		charge := func() int64 { return 100 }
		got, err := spend(ctx, survivor, r, charge)
		if !errors.Is(err, model.ErrUserQuotaExhausted) {
			t.Fatal(err)
		}
		if want := int64(initial-300) - held; got != want {
			t.Errorf("survivor spent %d before the claim expired, want %d (all but the killed node's claim %d)", got, want, held)
		}
		cb.advance(2 * time.Hour) // past the dead node's TTL
		if err := survivor.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		more, err := spend(ctx, survivor, r, charge)
		if !errors.Is(err, model.ErrUserQuotaExhausted) {
			t.Fatal(err)
		}
		if more != held {
			t.Errorf("survivor spent %d after the claim expired, want the claim's %d", more, held)
		}
		closeNodes(t, db, survivor)
		bal, used := balances(t, db, accountID{userKind, uid})
		if bal != 0 || used != initial {
			t.Errorf("balance %d, used_quota %d; want 0 and %d (the unflushed charge is lost with the node)", bal, used, initial)
		}
	})
}

// An admin's absolute edit revokes every node's claim on that balance: the
// editing node drops its lease at once, another at its next flush, and both
// then spend from grants of the new balance.
func TestLeaseAbsoluteEditRevokes(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *model.Store) {
		ctx := context.Background()
		db := s.Gorm()
		uid, tids := seedUserTokens(t, db, "carol", 100_000, "k")
		var c clock
		a := newLeaseNode(t, db, time.Second, c.opts("a"))
		b := newLeaseNode(t, db, time.Second, c.opts("b"))
		r := model.Reservation{UserID: uid, TokenID: tids[0], Amount: 10}
		for _, l := range []*Batch{a, b} {
			if err := l.Reserve(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := l.Settle(ctx, model.Settlement{Reservation: r, Quota: 10}); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(claims(t, db)); n != 4 {
			t.Fatalf("%d claims, want 4 (two nodes × user and token)", n)
		}
		err := a.Apply(ctx, func(x model.Tx) error {
			q := int64(5000)
			return x.UpdateUser(uid, model.UserPatch{Quota: &q})
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range claims(t, db) {
			if row.Kind == "user" {
				t.Errorf("claim on the edited user survived the edit: %+v", row)
			}
		}
		user := accountID{userKind, uid}
		leaseOf := func(l *Batch) (int64, bool) {
			l.mu.Lock()
			defer l.mu.Unlock()
			if ac, _ := l.accounts.get(user); ac != nil {
				return ac.balance, ac.claimed
			}
			return 0, false
		}
		if bal, claimed := leaseOf(a); bal > 0 || claimed {
			t.Errorf("editing node still holds %d (claimed %v)", bal, claimed)
		}
		if bal, _ := leaseOf(b); bal <= 0 {
			t.Fatalf("the other node holds %d before its flush, want its lease", bal)
		}
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if bal, claimed := leaseOf(b); bal > 0 || claimed {
			t.Errorf("the other node holds %d (claimed %v) after its flush, want its lease dropped", bal, claimed)
		}
		for _, l := range []*Batch{a, b} {
			before := l.Stats().Grants
			if err := l.Reserve(ctx, r); err != nil {
				t.Fatal(err)
			}
			if l.Stats().Grants != before+1 {
				t.Errorf("node %s: %d grants for a reservation after the edit, want 1", l.LeaseNode(), l.Stats().Grants-before)
			}
		}
		closeNodes(t, db, a, b)
		// 5000 as set, less b's charge made before the edit and flushed
		// after it, less the two reservations made after it.
		if bal, _ := balances(t, db, user); bal != 5000-10-20 {
			t.Errorf("balance %d, want %d", bal, 5000-10-20)
		}
	})
}

// failAll makes every statement on db fail while down is set: the database
// is unreachable.
func failAll(t testing.TB, db *gorm.DB) *atomic.Bool {
	t.Helper()
	down := new(atomic.Bool)
	testdb.OnEveryStatement(t, db, "test:down", func(tx *gorm.DB) {
		if down.Load() {
			tx.AddError(errors.New("connection refused"))
		}
	})
	return down
}

// oneNodeReserved is one lease node on a fresh SQLite database, with a user
// of quota and one reservation of amount made (so a lease granted).
func oneNodeReserved(t *testing.T, quota, amount int64) (*gorm.DB, *Batch, int, model.Reservation) {
	t.Helper()
	db := openPhaseBStore(t).Gorm()
	uid, _ := seedUserTokens(t, db, "dave", quota)
	var c clock
	l := newLeaseNode(t, db, time.Second, c.opts("a"))
	r := model.Reservation{UserID: uid, Unlimited: true, Amount: amount}
	if err := l.Reserve(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return db, l, uid, r
}

// With the database unreachable a node spends exactly the lease it holds,
// then refuses with an error that says why, instead of trusting its memory.
func TestLeaseDatabaseDownSpendsOnlyTheLease(t *testing.T) {
	ctx := context.Background()
	db, l, uid, _ := oneNodeReserved(t, 1_000_000, 10)
	l.mu.Lock()
	held := l.accounts[userKind][uid].balance
	l.mu.Unlock()
	if held <= 0 {
		t.Fatalf("lease after the first grant = %d", held)
	}
	down := failAll(t, db)
	down.Store(true)
	one := model.Reservation{UserID: uid, Unlimited: true, Amount: 1}
	var served int64
	var err error
	for served <= held {
		if err = l.Reserve(ctx, one); err != nil {
			break
		}
		served++
	}
	if served != held {
		t.Errorf("served %d units with the database down, want the %d held", served, held)
	}
	if err == nil || errors.Is(err, model.ErrUserQuotaExhausted) || !strings.Contains(err.Error(), "quota lease") {
		t.Errorf("refusal with the database down = %v, want a quota lease error naming the database", err)
	}
	down.Store(false)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if bal, used := balances(t, db, accountID{userKind, uid}); bal != 1_000_000-10-held || used != 0 {
		t.Errorf("balance %d, used %d after close; want %d, 0 (reservations are held, not used)", bal, used, 1_000_000-10-held)
	}
}

// A Forget (the bus's user change) gives the unspent lease back at the next
// flush, so the claim always equals the lease plus unflushed spends.
func TestLeaseForgetGivesBack(t *testing.T) {
	ctx := context.Background()
	db, l, uid, r := oneNodeReserved(t, 100_000, 100)
	l.Forget(uid)
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The reservation in flight is in col now and the unspent lease went
	// back: nothing is claimed.
	if rows := claims(t, db); len(rows) != 0 {
		t.Errorf("claims after Forget and a flush = %+v, want none", rows)
	}
	if err := l.Settle(ctx, model.Settlement{Reservation: r, Quota: 40}); err != nil {
		t.Fatal(err)
	}
	closeNodes(t, db, l)
	if bal, used := balances(t, db, accountID{userKind, uid}); bal != 100_000-40 || used != 40 {
		t.Errorf("balance %d, used %d; want %d, 40", bal, used, 100_000-40)
	}
}

func TestLeaseChunk(t *testing.T) {
	for _, tt := range []struct {
		name                       string
		recent, amount, need, free int64
		want                       int64
	}{
		{"new account: 16 reservations", 0, 100, 100, 1_000_000, 1600},
		{"busy account: twice its last interval", 50_000, 100, 100, 1_000_000, 100_000},
		{"shared: at most half of what is free", 50_000, 100, 100, 60_000, 30_000},
		{"half is too little: what the reservation needs", 0, 100, 100, 150, 100},
		{"a lease that went negative needs more", 0, 100, 130, 10_000, 1600},
		{"short: refused", 0, 100, 100, 99, 99},
		{"nothing free", 0, 100, 100, -20, -20},
	} {
		if got := leaseChunk(tt.recent, tt.amount, tt.need, tt.free); got != tt.want {
			t.Errorf("%s: leaseChunk = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// Between grants a reservation costs no database statement: the relay path
// stays in memory.
func TestLeaseReservesInMemory(t *testing.T) {
	ctx := context.Background()
	db, l, _, r := oneNodeReserved(t, 1_000_000, 100) // grants 16 reservations' worth
	stmts := countStatements(t, db)
	for range leaseMinReservations - 1 {
		if err := l.Reserve(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := l.Settle(ctx, model.Settlement{Reservation: r, Quota: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if n := stmts.Load(); n != 0 {
		t.Errorf("%d statements for %d reservations within the lease, want 0", n, leaseMinReservations-1)
	}
	if err := l.Reserve(ctx, r); err != nil {
		t.Fatal(err)
	}
	if n := stmts.Load(); n == 0 || l.Stats().Grants != 2 {
		t.Errorf("the reservation past the lease: %d statements, %d grants; want a second grant", n, l.Stats().Grants)
	}
}

// A settlement above its reservation overdraws the balance by its own excess
// only, as with Direct: the other nodes cannot be granted that excess again.
func TestLeaseOverageIsNotGrantedTwice(t *testing.T) {
	ctx := context.Background()
	db := openPhaseBStore(t).Gorm()
	uid, _ := seedUserTokens(t, db, "frank", 200)
	var c clock
	a := newLeaseNode(t, db, time.Second, c.opts("a"))
	b := newLeaseNode(t, db, time.Second, c.opts("b"))
	r := model.Reservation{UserID: uid, Unlimited: true, Amount: 100}
	if err := a.Reserve(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := a.Settle(ctx, model.Settlement{Reservation: r, Quota: 300}); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve(ctx, model.Reservation{UserID: uid, Unlimited: true, Amount: 1}); !errors.Is(err, model.ErrUserQuotaExhausted) {
		t.Errorf("another node's Reserve after the overdraw = %v, want model.ErrUserQuotaExhausted", err)
	}
	closeNodes(t, db, a, b)
	if bal, used := balances(t, db, accountID{userKind, uid}); bal != -100 || used != 300 {
		t.Errorf("balance %d, used %d; want -100, 300", bal, used)
	}
}
