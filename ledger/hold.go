package ledger

import (
	"context"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"one-api/model"
)

// Hold is the default profile's ledger on SQLite without Redis (issue 19):
// reservations are held in memory, and a request's only write is its bill,
// group-committed with its consume log (model.GroupLedger). One process
// owns a SQLite file and is its only writer, so the database cannot move
// under the in-memory balances except through this ledger and the admin
// writes it orders (Apply, Credit, Forget).
//
// Each user and token balance is Batch's account: read once from the
// database, then moved by every Reserve, Release and Bill, and checked by
// Reserve with Direct's rules (balance >= amount and balance > 0). Its
// pending balance is minus the reservations held, which are not in the
// database: the invariant is
//
//	in-memory balance = database balance − reservations held
//
// so a load (database + pending) is exact whenever no bill is between its
// commit and its in-memory move; Batch's flushMu, held shared by bills and
// exclusively by loads and admin writes, guarantees that.
//
// A bill writes the whole cost (the reservation was never written), so a
// kill -9 before it leaves nothing charged: the request never completed.
// A bill whose response completed is committed before the client sees the
// end (the relay bills before the final event), so it is never lost.
//
// A write to a balance that bypasses the ledger (sqlite3 by hand, a
// script) is seen within holdRefresh: every balance is then re-read at its
// next Reserve, as Batch re-reads at each flush.
//
// On PostgreSQL and MySQL, where several nodes may share the database, the
// reservation stays a conditional UPDATE (model.GroupLedger alone).
type Hold struct {
	b     *Batch // balances and held reservations; never started, never flushed
	group *model.GroupLedger

	refresh     time.Duration
	nextRefresh atomic.Int64 // unix ns: the first Reserve after it re-reads every balance
}

// holdRefresh bounds how long a write made outside the gateway goes unseen
// (BATCH_UPDATE_INTERVAL's default): one read per account in use per
// interval.
const holdRefresh = 5 * time.Second

// NewHold returns a ledger holding reservations in memory over db and
// billing through group (which writes to the same database). The caller
// closes group; Hold has nothing of its own to stop.
func NewHold(db *gorm.DB, group *model.GroupLedger) *Hold {
	return &Hold{b: NewBatch(db, BatchOptions{}), group: group, refresh: holdRefresh}
}

// HoldFor returns a Hold over the store's database.
func HoldFor(s *model.Store, group *model.GroupLedger) *Hold { return NewHold(s.Gorm(), group) }

// Reserve implements model.QuotaLedger: Batch's in-memory check, no write.
func (h *Hold) Reserve(ctx context.Context, r model.Reservation) error {
	if now, next := time.Now().UnixNano(), h.nextRefresh.Load(); now >= next &&
		h.nextRefresh.CompareAndSwap(next, now+int64(h.refresh)) {
		h.b.mu.Lock()
		h.unloadLocked()
		h.b.mu.Unlock()
	}
	return h.b.Reserve(ctx, r)
}

// Release implements model.QuotaLedger: the hold ends; the database never
// had it.
func (h *Hold) Release(ctx context.Context, r model.Reservation) error { return h.b.Release(ctx, r) }

// Settle implements model.QuotaLedger.
func (h *Hold) Settle(ctx context.Context, s model.Settlement) error { return h.Bill(ctx, s, nil) }

// Record implements model.LogSink.
func (h *Hold) Record(ctx context.Context, l *model.Log) error { return h.group.Record(ctx, l) }

// Bill implements model.Biller: the whole cost and the consume log in one
// group commit, then the hold becomes the charge in memory. If the bill
// fails the hold still ends, and the accounts are re-read at their next
// Reserve: whether a failed bill left its charge (a settlement committed
// apart from a refused log row) the database knows, not this ledger.
func (h *Hold) Bill(ctx context.Context, s model.Settlement, l *model.Log) error {
	h.b.flushMu.RLock()
	defer h.b.flushMu.RUnlock()
	full := s
	full.Amount = 0 // the reservation is not in the database: charge all of Quota
	err := h.group.Bill(ctx, full, l)
	ids, n := accounts(s.Reservation)
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	for _, id := range ids[:n] {
		a := h.b.account(id)
		a.move(s.Amount) // the hold ends
		if err != nil {
			a.loaded = false
			continue
		}
		a.balance -= s.Quota // the charge, already in the database
	}
	return err
}

// Apply implements model.QuotaAdmin: the write runs in a transaction of its
// own while no bill is committing, then every balance is re-read at its
// next Reserve (database + holds). The holds survive the write: an absolute
// quota = X leaves X − holds to reserve against, and each held request is
// charged its cost against X when it bills, as with Direct, where saving
// the row as read (which had the reservation taken) and then settling gives
// the same balance.
func (h *Hold) Apply(ctx context.Context, write func(tx model.Tx) error) error {
	h.b.flushMu.Lock()
	defer h.b.flushMu.Unlock()
	err := h.b.direct.Apply(ctx, write)
	h.b.mu.Lock()
	h.unloadLocked()
	h.b.mu.Unlock()
	return err
}

// unloadLocked makes every balance be re-read (database + holds) at its
// next Reserve, and drops the accounts holding nothing, so memory stays
// bounded by the accounts in use. Callers hold b.mu.
func (h *Hold) unloadLocked() {
	for _, km := range h.b.accounts {
		for id, a := range km {
			if a.pending == (delta{}) {
				delete(km, id)
				continue
			}
			a.loaded = false
		}
	}
}

// Credit implements model.QuotaAdmin: a relative write, ordered as Apply.
func (h *Hold) Credit(ctx context.Context, _ int, write func(tx model.Tx) (int64, error)) error {
	return h.Apply(ctx, func(tx model.Tx) error {
		_, err := write(tx)
		return err
	})
}

// Pending implements model.QuotaAdmin: every charge is in the database at
// once, and holds are not charges. The row as read is what an admin edit
// must write back (see Apply).
func (h *Hold) Pending(int) model.UserDelta { return model.UserDelta{} }

// PendingToken implements model.QuotaAdmin.
func (h *Hold) PendingToken(int) model.TokenDelta { return model.TokenDelta{} }

// PendingChannel implements model.QuotaAdmin.
func (h *Hold) PendingChannel(int) int64 { return 0 }

// Forget implements model.QuotaAdmin: the user's balance is re-read at its
// next Reserve.
func (h *Hold) Forget(userID int) { h.b.Forget(userID) }

// ForgetToken implements model.QuotaAdmin.
func (h *Hold) ForgetToken(tokenID int) { h.b.ForgetToken(tokenID) }

var (
	_ model.QuotaLedger = (*Hold)(nil)
	_ model.QuotaAdmin  = (*Hold)(nil)
	_ model.Biller      = (*Hold)(nil)
	_ model.LogSink     = (*Hold)(nil)
)
