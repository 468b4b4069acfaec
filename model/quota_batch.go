package model

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"one-api/common"
)

// BatchLedger is a QuotaLedger that keeps quota movements in memory and
// applies them once per BATCH_UPDATE_INTERVAL, in one transaction, as
// relative updates (col = col + ?), so several gateway nodes can share one
// database and a lost race never overwrites anyone's charge.
//
// After a flush the database holds exactly what DirectLedger would have
// written for the same calls. Reserve stays exact without a read per request:
// each user and token has an in-memory balance, read once from the database
// (plus the movements not flushed yet) and moved by every Reserve, Settle and
// Release; Reserve refuses when it is short, as DirectLedger's conditional
// UPDATE does. Each flush re-reads the balances of the accounts it wrote, so
// writes by other nodes or by hand show up within one interval, and forgets
// accounts that had no movement since the previous flush.
//
// A failed flush keeps its deltas for the next one. Close flushes what is
// left; after Close, calls go straight to the database (DirectLedger).
//
// Admin writes to quota columns: relative ones (quota = quota + ?) commute
// with the pending deltas and need only Forget / ForgetToken afterwards so the
// new balance counts at once; absolute ones (quota = ?) must go through Apply,
// which orders them after every movement made before it and before every
// movement made after it.
type BatchLedger struct {
	db       *gorm.DB
	interval time.Duration
	clock    Clock
	onFlush  func(int, error)
	direct   *DirectLedger

	// flushMu serialises flushes and balance loads: a balance read while
	// deltas are in flight would count them twice or not at all.
	flushMu sync.Mutex

	mu       sync.Mutex
	closed   bool
	users    map[int]*userAccount
	tokens   map[int]*tokenAccount
	channels map[int]int64 // pending used_quota
	inflight *quotaBatch   // deltas being written, for Pending

	runCtx    context.Context
	cancelRun context.CancelFunc
	stop      chan struct{}
	done      chan struct{}
	startOnce sync.Once
	closeOnce sync.Once
	closeErr  error

	flushes, failures, loads atomic.Int64
}

// UserDelta is what the next flush adds to a users row.
type UserDelta struct {
	Quota        int64
	UsedQuota    int64
	RequestCount int64
}

// TokenDelta is what the next flush adds to a tokens row.
type TokenDelta struct {
	RemainQuota int64
	UsedQuota   int64
}

func (d *UserDelta) add(o UserDelta) {
	d.Quota += o.Quota
	d.UsedQuota += o.UsedQuota
	d.RequestCount += o.RequestCount
}

func (d *TokenDelta) add(o TokenDelta) {
	d.RemainQuota += o.RemainQuota
	d.UsedQuota += o.UsedQuota
}

type userAccount struct {
	loaded  bool
	balance int64 // quota as the database will hold it once everything is flushed
	pending UserDelta
}

type tokenAccount struct {
	loaded  bool
	balance int64
	pending TokenDelta
}

// quotaBatch is one flush's worth of deltas.
type quotaBatch struct {
	users    map[int]UserDelta
	tokens   map[int]TokenDelta
	channels map[int]int64
}

func (b *quotaBatch) size() int { return len(b.users) + len(b.tokens) + len(b.channels) }

// BatchLedgerStats are the ledger's counters, for metrics.
type BatchLedgerStats struct {
	Flushes       int64 // successful flushes that wrote something
	FailedFlushes int64 // flushes rolled back (their deltas were kept)
	Loads         int64 // balances read from the database
	Accounts      int   // users and tokens held in memory
}

// NewBatchLedger returns a ledger flushing to db every cfg.Interval
// (BATCH_UPDATE_INTERVAL). Options: WithClock, WithOnFlush.
func NewBatchLedger(db *gorm.DB, cfg common.BatchUpdateConfig, opts ...WorkerOption) *BatchLedger {
	o := buildWorkerOptions(opts)
	interval := cfg.Interval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	runCtx, cancel := context.WithCancel(context.Background())
	return &BatchLedger{
		db: db, interval: interval, clock: o.clock, onFlush: o.onFlush, direct: NewDirectLedger(db),
		users: make(map[int]*userAccount), tokens: make(map[int]*tokenAccount), channels: make(map[int]int64),
		runCtx: runCtx, cancelRun: cancel, stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// Reserve implements QuotaLedger.
func (l *BatchLedger) Reserve(ctx context.Context, r Reservation) error {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return l.direct.Reserve(ctx, r)
		}
		u := l.users[r.UserID]
		var t *tokenAccount
		if !r.Unlimited {
			t = l.tokens[r.TokenID]
		}
		if u == nil || !u.loaded || (!r.Unlimited && (t == nil || !t.loaded)) {
			l.mu.Unlock()
			if err := l.load(ctx, r); err != nil {
				return err
			}
			continue
		}
		// Same conditions as DirectLedger's WHERE quota >= ? AND quota > 0,
		// checked for both before either moves, like its transaction.
		if u.balance < r.Amount || u.balance <= 0 {
			l.mu.Unlock()
			return ErrUserQuotaExhausted
		}
		if t != nil && (t.balance < r.Amount || t.balance <= 0) {
			l.mu.Unlock()
			return ErrTokenQuotaExhausted
		}
		u.balance -= r.Amount
		u.pending.Quota -= r.Amount
		if t != nil {
			t.balance -= r.Amount
			t.pending.RemainQuota -= r.Amount
		}
		l.mu.Unlock()
		return nil
	}
}

// Settle implements QuotaLedger.
func (l *BatchLedger) Settle(ctx context.Context, s Settlement) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.direct.Settle(ctx, s)
	}
	delta := s.Quota - s.Amount
	u := l.user(s.UserID)
	u.balance -= delta
	u.pending.Quota -= delta
	u.pending.UsedQuota += s.Quota
	u.pending.RequestCount++
	if !s.Unlimited {
		t := l.token(s.TokenID)
		t.balance -= delta
		t.pending.RemainQuota -= delta
		t.pending.UsedQuota += s.Quota
	}
	if s.ChannelID != 0 && s.Quota != 0 {
		l.channels[s.ChannelID] += s.Quota
	}
	return nil
}

// Release implements QuotaLedger.
func (l *BatchLedger) Release(ctx context.Context, r Reservation) error {
	if r.Amount == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.direct.Release(ctx, r)
	}
	u := l.user(r.UserID)
	u.balance += r.Amount
	u.pending.Quota += r.Amount
	if !r.Unlimited {
		t := l.token(r.TokenID)
		t.balance += r.Amount
		t.pending.RemainQuota += r.Amount
	}
	return nil
}

// user returns the account, creating an unloaded one: Settle and Release
// need no balance, only somewhere to put the delta. Callers hold mu.
func (l *BatchLedger) user(id int) *userAccount {
	u := l.users[id]
	if u == nil {
		u = &userAccount{}
		l.users[id] = u
	}
	return u
}

func (l *BatchLedger) token(id int) *tokenAccount {
	t := l.tokens[id]
	if t == nil {
		t = &tokenAccount{}
		l.tokens[id] = t
	}
	return t
}

// load reads the balances r needs and has not got. Under flushMu no deltas
// are in flight, so database value + pending is the exact balance.
func (l *BatchLedger) load(ctx context.Context, r Reservation) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	u := l.users[r.UserID]
	needUser := u == nil || !u.loaded
	t := l.tokens[r.TokenID]
	needToken := !r.Unlimited && (t == nil || !t.loaded)
	l.mu.Unlock()

	var userQuota, tokenQuota int64
	if needUser {
		q, err := l.readColumn(ctx, &User{}, "quota", r.UserID)
		if err != nil {
			return fmt.Errorf("load user %d quota: %w", r.UserID, err)
		}
		userQuota = q
	}
	if needToken {
		q, err := l.readColumn(ctx, &Token{}, "remain_quota", r.TokenID)
		if err != nil {
			return fmt.Errorf("load token %d quota: %w", r.TokenID, err)
		}
		tokenQuota = q
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if needUser {
		if u := l.user(r.UserID); !u.loaded {
			u.balance, u.loaded = userQuota+u.pending.Quota, true
		}
	}
	if needToken {
		if t := l.token(r.TokenID); !t.loaded {
			t.balance, t.loaded = tokenQuota+t.pending.RemainQuota, true
		}
	}
	return nil
}

// readColumn reads one quota column; a missing row reads as 0, which
// Reserve refuses, as DirectLedger's UPDATE matching no row does.
func (l *BatchLedger) readColumn(ctx context.Context, table any, col string, id int) (int64, error) {
	l.loads.Add(1)
	var vals []int64
	err := l.db.WithContext(ctx).Model(table).Where("id = ?", id).Limit(1).Pluck(col, &vals).Error
	if err != nil || len(vals) == 0 {
		return 0, err
	}
	return vals[0], nil
}

// Forget drops the user's in-memory balance: the next Reserve reads it from
// the database again (plus pending deltas). Call it after a delete;
// relative admin writes (top-up, redemption: quota = quota + ?) go through
// Credit.
func (l *BatchLedger) Forget(userID int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := l.users[userID]; u != nil {
		u.loaded = false
	}
}

// ForgetToken is Forget for a token's remain_quota.
func (l *BatchLedger) ForgetToken(tokenID int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.tokens[tokenID]; t != nil {
		t.loaded = false
	}
}

// Pending returns what is not in the users row yet (including a flush in
// progress). Readers add it to the row they read for display
// (quota + Quota, used_quota + UsedQuota, request_count + RequestCount). A
// read racing a flush's commit may count a delta twice or not at all for that
// one read; nothing is lost.
func (l *BatchLedger) Pending(userID int) UserDelta {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d UserDelta
	if u := l.users[userID]; u != nil {
		d = u.pending
	}
	if l.inflight != nil {
		d.add(l.inflight.users[userID])
	}
	return d
}

// PendingToken is Pending for a tokens row.
func (l *BatchLedger) PendingToken(tokenID int) TokenDelta {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d TokenDelta
	if t := l.tokens[tokenID]; t != nil {
		d = t.pending
	}
	if l.inflight != nil {
		d.add(l.inflight.tokens[tokenID])
	}
	return d
}

// PendingChannel is Pending for a channel's used_quota.
func (l *BatchLedger) PendingChannel(channelID int) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.channels[channelID]
	if l.inflight != nil {
		d += l.inflight.channels[channelID]
	}
	return d
}

// Stats returns the counters.
func (l *BatchLedger) Stats() BatchLedgerStats {
	l.mu.Lock()
	n := len(l.users) + len(l.tokens)
	l.mu.Unlock()
	return BatchLedgerStats{Flushes: l.flushes.Load(), FailedFlushes: l.failures.Load(), Loads: l.loads.Load(), Accounts: n}
}
