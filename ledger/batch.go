package ledger

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"one-api/model"
)

// Batch is a QuotaLedger that keeps quota movements in memory and applies
// them once per BATCH_UPDATE_INTERVAL, in one transaction, as relative
// updates (col = col + ?), so several gateway nodes can share one database
// and a lost race never overwrites anyone's charge.
//
// After a flush the database holds exactly what Direct would have written
// for the same calls. Reserve stays exact without a read per request: each
// user and token has an in-memory balance, read once from the database (plus
// the movements not flushed yet) and moved by every Reserve, Settle and
// Release; Reserve refuses when it is short, as Direct's conditional UPDATE
// does. Each flush re-reads the balances of the accounts it wrote, so writes
// by other nodes or by hand show up within one interval, and forgets
// accounts that had no movement since the previous flush.
//
// A failed flush keeps its deltas for the next one. Close flushes what is
// left; after Close, calls go straight to the database (Direct).
//
// Admin writes to quota columns: relative ones (quota = quota + ?) commute
// with the pending deltas and need only Forget / ForgetToken afterwards so the
// new balance counts at once; absolute ones (quota = ?) must go through Apply,
// which orders them after every movement made before it and before every
// movement made after it.
type Batch struct {
	db       *gorm.DB
	interval time.Duration
	onFlush  func(int, error)
	direct   *Direct

	// flushMu serialises flushes and balance loads: a balance read while
	// deltas are in flight would count them twice or not at all. Hold's
	// bills share it (RLock) for the same reason: a balance is never read
	// while a bill's commit and its in-memory move are apart.
	flushMu sync.RWMutex
	// lease, when set (EnableLeases), makes Reserve check leases claimed in
	// the database instead of balances read from it.
	lease *leases

	mu       sync.Mutex
	closed   bool
	accounts accountMap[*account]
	channels map[int]int64 // pending used_quota
	inflight *batch        // deltas being written, for Pending

	runCtx    context.Context
	cancelRun context.CancelFunc
	stop      chan struct{}
	done      chan struct{}
	startOnce sync.Once
	closeOnce sync.Once
	closeErr  error

	flushes, failures, loads, grants atomic.Int64
}

// BatchOptions configure a Batch.
type BatchOptions struct {
	// Interval between two flushes (BATCH_UPDATE_INTERVAL); 0 means 5 s.
	Interval time.Duration
	// OnFlush, if set, is called after every flush attempt with the number
	// of accounts and channels written and the error, if any. It runs on
	// the flushing goroutine: keep it short.
	OnFlush func(accounts int, err error)
}

// batch is one flush's worth of deltas.
type batch struct {
	accounts accountMap[delta]
	channels map[int]int64
	leases   accountMap[leaseOp] // with leases: what happens to this node's claims
}

func (b *batch) size() int { return b.accounts.len() + len(b.channels) + b.leases.len() }

// accountMap is a map per kind keyed by id: an int key takes the runtime's
// fast path, where an accountID key would be hashed as a struct on every
// request.
type accountMap[V any] [len(tables)]map[int]V

func newAccountMap[V any]() accountMap[V] {
	var m accountMap[V]
	for k := range m {
		m[k] = make(map[int]V)
	}
	return m
}

func (m accountMap[V]) get(id accountID) (V, bool) {
	v, ok := m[id.kind][id.id]
	return v, ok
}

func (m accountMap[V]) set(id accountID, v V) { m[id.kind][id.id] = v }

func (m accountMap[V]) len() int {
	n := 0
	for _, km := range m {
		n += len(km)
	}
	return n
}

// all iterates over every entry.
func (m accountMap[V]) all(yield func(accountID, V) bool) {
	for k, km := range m {
		for id, v := range km {
			if !yield(accountID{kind(k), id}, v) {
				return
			}
		}
	}
}

// BatchStats are the ledger's counters, for metrics.
type BatchStats struct {
	Flushes       int64 // successful flushes that wrote something
	FailedFlushes int64 // flushes rolled back (their deltas were kept)
	Loads         int64 // balances read from the database
	Grants        int64 // leases granted (with leases)
	Accounts      int   // users and tokens held in memory
}

// NewBatch returns a ledger flushing to db every o.Interval once started.
func NewBatch(db *gorm.DB, o BatchOptions) *Batch {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	runCtx, cancel := context.WithCancel(context.Background())
	return &Batch{
		db: db, interval: o.Interval, onFlush: o.OnFlush, direct: NewDirect(db),
		accounts: newAccountMap[*account](), channels: make(map[int]int64),
		runCtx: runCtx, cancelRun: cancel, stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// BatchFor returns a ledger flushing to the store's database.
func BatchFor(s *model.Store, o BatchOptions) *Batch { return NewBatch(s.Gorm(), o) }

// Reserve implements model.QuotaLedger.
func (l *Batch) Reserve(ctx context.Context, r model.Reservation) error {
	// The user's account, then the token's unless it is unlimited.
	ids, n := accounts(r)
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return l.direct.Reserve(ctx, r)
		}
		var as [2]*account
		for i, id := range ids[:n] {
			if as[i] = l.accounts[id.kind][id.id]; as[i] == nil && l.lease != nil {
				as[i] = l.account(id) // a lease starts empty: the check below asks for one
			}
		}
		if l.lease == nil && (!as[0].isLoaded() || (n > 1 && !as[1].isLoaded())) {
			l.mu.Unlock()
			if err := l.load(ctx, ids[:n]); err != nil {
				return err
			}
			continue
		}
		// Same conditions as Direct's WHERE quota >= ? AND quota > 0,
		// checked for both before either moves, like its transaction.
		short := -1
		for i := range n {
			if !as[i].canSpend(r.Amount) {
				short = i
				break
			}
		}
		if short < 0 {
			for _, a := range as[:n] {
				a.move(-r.Amount)
			}
			l.mu.Unlock()
			return nil
		}
		lease := l.lease != nil
		l.mu.Unlock()
		if !lease {
			return ids[short].kind.table().exhausted
		}
		// Each round either reserves or follows a grant that took more of
		// the free balance (a finite amount) for some reservation of this
		// node: the loop ends.
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.grant(ctx, ids[short], r.Amount); err != nil {
			return err
		}
	}
}

// Settle implements model.QuotaLedger.
func (l *Batch) Settle(ctx context.Context, s model.Settlement) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.direct.Settle(ctx, s)
	}
	l.account(accountID{userKind, s.UserID}).settle(userKind, s)
	if !s.Unlimited {
		l.account(accountID{tokenKind, s.TokenID}).settle(tokenKind, s)
	}
	if s.ChannelID != 0 && s.Quota != 0 {
		l.channels[s.ChannelID] += s.Quota
	}
	return nil
}

// Release implements model.QuotaLedger.
func (l *Batch) Release(ctx context.Context, r model.Reservation) error {
	if r.Amount == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.direct.Release(ctx, r)
	}
	l.moveLocked(r, r.Amount)
	return nil
}

// hold moves a reservation into the pending deltas without a balance check:
// the Redis ledger already checked the shared balance. After Close it
// writes through, as the rest of Batch does.
func (l *Batch) hold(ctx context.Context, r model.Reservation) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		// A release of minus the amount is an unconditional debit.
		neg := r
		neg.Amount = -r.Amount
		return l.direct.Release(ctx, neg)
	}
	l.moveLocked(r, -r.Amount)
	l.mu.Unlock()
	return nil
}

// moveLocked adds amount to the balances r moves. Callers hold mu.
func (l *Batch) moveLocked(r model.Reservation, amount int64) {
	l.account(accountID{userKind, r.UserID}).move(amount)
	if !r.Unlimited {
		l.account(accountID{tokenKind, r.TokenID}).move(amount)
	}
}

// account returns the account, creating an unloaded one: Settle and
// Release need no balance, only somewhere to put the delta. Callers hold mu.
func (l *Batch) account(id accountID) *account {
	a := l.accounts[id.kind][id.id]
	if a == nil {
		a = &account{}
		l.accounts[id.kind][id.id] = a
	}
	return a
}

// load reads the balances of ids it has not got. Under flushMu no deltas
// are in flight, so database value + pending is the exact balance.
func (l *Batch) load(ctx context.Context, ids []accountID) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	var vals [2]int64
	var need [2]bool
	for i, id := range ids {
		l.mu.Lock()
		a, _ := l.accounts.get(id)
		need[i] = a == nil || !a.loaded
		l.mu.Unlock()
		if !need[i] {
			continue
		}
		v, err := l.readBalance(ctx, id)
		if err != nil {
			return fmt.Errorf("load %s quota: %w", id, err)
		}
		vals[i] = v
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, id := range ids {
		if a := l.account(id); need[i] && !a.loaded {
			a.balance, a.loaded = vals[i]+a.pending.Balance, true
		}
	}
	return nil
}

// exactBalance calls fn with id's exact balance (the database row plus this
// node's unflushed deltas), under flushMu so that no flush or load runs
// until fn returns.
func (l *Batch) exactBalance(ctx context.Context, id accountID, fn func(balance int64) error) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	v, err := l.readBalance(ctx, id)
	if err != nil {
		return fmt.Errorf("load %s quota: %w", id, err)
	}
	l.mu.Lock()
	if a, _ := l.accounts.get(id); a != nil {
		v += a.pending.Balance
	}
	l.mu.Unlock()
	return fn(v)
}

// readBalance reads one balance column; a missing row reads as 0, which
// Reserve refuses, as Direct's UPDATE matching no row does.
func (l *Batch) readBalance(ctx context.Context, id accountID) (int64, error) {
	l.loads.Add(1)
	t := id.kind.table()
	var vals []int64
	err := l.db.WithContext(ctx).Model(t.model).Where("id = ?", id.id).Limit(1).Pluck(t.balance, &vals).Error
	if err != nil || len(vals) == 0 {
		return 0, err
	}
	return vals[0], nil
}

// Forget drops the user's in-memory balance: the next Reserve reads it from
// the database again (plus pending deltas). Call it after a delete;
// relative admin writes (top-up, redemption: quota = quota + ?) go through
// Credit. With leases it gives the unspent lease back (recorded by the next
// flush): the next Reserve asks for a new grant, which sees the change.
func (l *Batch) Forget(userID int) { l.forget(accountID{userKind, userID}) }

// ForgetToken is Forget for a token's remain_quota.
func (l *Batch) ForgetToken(tokenID int) { l.forget(accountID{tokenKind, tokenID}) }

func (l *Batch) forget(id accountID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a, _ := l.accounts.get(id); a != nil {
		a.loaded = false
		if l.lease != nil {
			a.forgetLease()
		}
	}
}

// Pending returns what is not in the users row yet (including a flush in
// progress). Readers add it to the row they read for display
// (quota + Quota, used_quota + UsedQuota, request_count + RequestCount). A
// read racing a flush's commit may count a delta twice or not at all for that
// one read; nothing is lost.
func (l *Batch) Pending(userID int) model.UserDelta {
	return l.pending(accountID{userKind, userID}).user()
}

// PendingToken is Pending for a tokens row.
func (l *Batch) PendingToken(tokenID int) model.TokenDelta {
	return l.pending(accountID{tokenKind, tokenID}).token()
}

func (l *Batch) pending(id accountID) delta {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d delta
	if a, _ := l.accounts.get(id); a != nil {
		d = a.pending
	}
	if l.inflight != nil {
		d2, _ := l.inflight.accounts.get(id)
		d.add(d2)
	}
	return d
}

// PendingChannel is Pending for a channel's used_quota.
func (l *Batch) PendingChannel(channelID int) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.channels[channelID]
	if l.inflight != nil {
		d += l.inflight.channels[channelID]
	}
	return d
}

// Stats returns the counters.
func (l *Batch) Stats() BatchStats {
	l.mu.Lock()
	n := l.accounts.len()
	l.mu.Unlock()
	return BatchStats{Flushes: l.flushes.Load(), FailedFlushes: l.failures.Load(), Loads: l.loads.Load(), Grants: l.grants.Load(), Accounts: n}
}

var (
	_ model.QuotaLedger = (*Batch)(nil)
	_ model.QuotaAdmin  = (*Batch)(nil)
)
