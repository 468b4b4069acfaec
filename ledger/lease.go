package ledger

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Leases: several gateway nodes batching their quota movements on one
// database, each checking reservations against a share of the balance it
// has claimed in the database (a lease), so the request path touches neither
// the database nor Redis (docs/scaling.md, "Quota leases").
//
// Per account (a user's quota, a limited token's remain_quota), with col the
// balance column (the flushed balance, as with a plain Batch):
//
//   - quota_leases holds one row per node and account: A_n, what node n has
//     claimed and neither given back nor flushed as spent;
//   - node n holds L_n (account.balance: the unspent lease) and its pending
//     delta U_n (account.pending), and keeps A_n = L_n − U_n + R_n, R_n being
//     lease it gave back that no flush has recorded yet (account.returned).
//     Reserve, Settle and Release move L_n and U_n by the same amount, so
//     they keep it without touching the database;
//   - a grant (Reserve finding L_n short) locks the balance row, drops the
//     account's expired claims, and takes at most free = col − Σ claims of
//     the live nodes (its own counted as L_n − U_n): Σ_n L_n never exceeds
//     the live balance, whatever the nodes do;
//   - a flush moves col by U_n and A_n by U_n − R_n in one transaction, so a
//     crash at any point leaves the two consistent. A node killed without
//     flushing loses its pending U_n (as a plain Batch does) and its claim
//     expires after the TTL: col never saw those spends, so nothing needs
//     crediting back, and col = initial − used_quota holds throughout.

// LeaseOptions configure Batch.EnableLeases.
type LeaseOptions struct {
	// Node names this process in quota_leases; unique per process.
	Node string
	// TTL is how long a claim outlives its node's last flush
	// (QUOTA_LEASE_TTL); it must be longer than the flush interval.
	TTL time.Duration
	// Now is the clock expiries are computed with (tests move it); nil
	// means time.Now.
	Now func() time.Time
}

// quotaLease is one node's claim on one balance: the gateway-owned table
// quota_leases (one-api ignores it, docs/compatibility.md). The primary key
// starts with the account: a grant reads one account's claims by its prefix,
// and every write names a whole key, so no statement scans or range-locks
// other accounts' rows.
type quotaLease struct {
	Kind      string `gorm:"primaryKey;size:8"`
	AccountID int    `gorm:"primaryKey;autoIncrement:false"`
	Node      string `gorm:"primaryKey;size:64"`
	Amount    int64  `gorm:"not null"`
	ExpiresAt int64  `gorm:"not null"` // unix milliseconds
}

func (quotaLease) TableName() string { return "quota_leases" }

// leases is a Batch's lease state; flushMu guards lastExpiry.
type leases struct {
	LeaseOptions
	lastExpiry int64
}

// leaseChunk is what a grant takes (see the sizing rules above): recent is
// the account's spend over the last flush interval on this node, need what
// the reservation of amount lacks, free what no live node claims. Less than
// need means refused.
func leaseChunk(recent, amount, need, free int64) int64 {
	return min(max(2*recent, leaseMinReservations*amount, need), max(free/2, need), free)
}

// Chunk sizing. A grant takes twice the account's spend over the last flush
// interval on this node, so a busy account is granted about once per
// interval and an idle one holds nothing; at least leaseMinReservations
// reservations, so a new account does not go to the database for each of its
// first requests; and at most half of what is free (but never less than the
// reservation needs), so that one node cannot starve the others of an
// account they share: near exhaustion the grants shrink geometrically
// instead of one node holding the last of the balance.
const leaseMinReservations = 16

// EnableLeases makes the Batch check reservations against leases recorded in
// quota_leases instead of the balances it read from the database, so that
// several nodes can batch on one database without overspending. It creates
// the table if needed. Call it before the first movement.
func (l *Batch) EnableLeases(ctx context.Context, o LeaseOptions) error {
	if o.Node == "" || len(o.Node) > 64 {
		return fmt.Errorf("quota leases: node name %q must be 1 to 64 characters", o.Node)
	}
	if o.TTL <= l.interval {
		return fmt.Errorf("quota leases: TTL %s must be longer than the flush interval %s", o.TTL, l.interval)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// Every node creates the table, masters and slaves alike: the first to
	// start wins, and a node racing it sees the table on the second try.
	var err error
	for range 2 {
		if err = l.db.WithContext(ctx).AutoMigrate(&quotaLease{}); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("quota leases: create quota_leases: %w", err)
	}
	if err := registerQuotaWatch(l.db); err != nil {
		return err
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.accounts.len() != 0 {
		return errors.New("quota leases: enabled after the ledger moved quota")
	}
	l.lease = &leases{LeaseOptions: o}
	return nil
}

// expiry is the expires_at of a claim written now. It increases strictly
// from one write to the next, so an UPDATE always changes the row: a flush
// tells a missing row from a present one by the rows affected even on a
// MySQL connection without clientFoundRows (which counts changed rows, not
// matched ones). Callers hold flushMu.
func (s *leases) expiry() int64 {
	e := s.Now().Add(s.TTL).UnixMilli()
	if e <= s.lastExpiry {
		e = s.lastExpiry + 1
	}
	s.lastExpiry = e
	return e
}

// leaseOp is what a flush writes to this node's claim on one account.
type leaseOp struct {
	add      int64 // amount + add: the spends flushed minus the lease given back
	returned int64 // the account's returned recorded by this flush
	drop     bool  // the claim reaches zero with nothing held: delete the row
	lost     bool  // set in the transaction: the row was gone (expired, revoked)
}

// dropLease forgets a claim the database no longer holds: the unspent lease
// is no longer this node's to spend, and nothing given back needs recording.
// A lease spent below zero (settlements above their reservations) is reset
// too: the excess is in the pending delta, which col will get, and which the
// next grant claims (held = L − U), so no node can be granted it again.
func (a *account) dropLease() {
	a.balance = 0
	a.returned = 0
	a.claimed = false
}

// leaseIdle reports whether the account holds nothing a flush must record.
func (a *account) leaseIdle() bool { return a.balance == 0 && a.returned == 0 && !a.claimed }

// giveBack moves the unspent lease above keep (≥ 0) to returned. A lease
// spent below zero is brought back to zero the same way (a negative
// return): the claim then covers the excess spent, which the flush lands on
// col, instead of letting the other nodes count it free a second time.
func (a *account) giveBack(keep int64) {
	if l := max(min(a.balance, keep), 0); l != a.balance {
		a.returned += a.balance - l
		a.balance = l
	}
}

// takeLeaseLocked decides, as a flush takes the pending deltas, what the
// flush does with the account's lease: spent is the delta taken. An account
// that moved keeps about one interval's worth of its recent spend and gives
// back the rest; an idle one gives back everything (and is forgotten after
// the flush); a closing ledger gives back everything. Callers hold mu.
func (s *leases) takeLeaseLocked(b *batch, id accountID, a *account, spent delta, closing bool) {
	a.refused = false // a flush may bring credits and returned leases: ask again
	a.recent = max(0, -spent.Balance)
	if !a.claimed {
		// No row: an unspent lease here (a refund) must not outlive the
		// flush that lands it on col, where every node may claim it.
		a.dropLease()
		return
	}
	keep := a.recent
	if closing {
		keep = 0
	}
	a.giveBack(keep)
	b.leases.set(id, leaseOp{add: spent.Balance - a.returned, returned: a.returned, drop: closing || a.balance == 0})
}

// forgetLeaseLocked gives the unspent lease back (Forget): the next Reserve
// asks for a grant, and so sees any admin change of the balance.
func (a *account) forgetLease() {
	a.giveBack(0)
	a.refused = false
}

// writeLeases records a flush's lease ops, in key order like applyBatch's
// updates, after them (balance rows first, then claims, as a grant locks
// them, so the two cannot deadlock).
func (s *leases) writeLeases(tx *gorm.DB, b *batch) error {
	if b.leases.len() == 0 {
		return nil
	}
	exp := s.expiry()
	for k, km := range b.leases {
		for _, aid := range slices.Sorted(maps.Keys(km)) {
			id := accountID{kind(k), aid}
			op := km[aid]
			q := tx.Model(&quotaLease{}).Where("kind = ? AND account_id = ? AND node = ?", id.kind.table().label, id.id, s.Node)
			var res *gorm.DB
			if op.drop {
				res = q.Delete(&quotaLease{})
			} else {
				res = q.Updates(map[string]any{"amount": gorm.Expr("amount + ?", op.add), "expires_at": exp})
			}
			if res.Error != nil {
				return fmt.Errorf("%s lease: %w", id, res.Error)
			}
			if res.RowsAffected == 0 {
				op.lost = true
				km[aid] = op
			}
		}
	}
	return nil
}

// leasesCommittedLocked applies a committed flush's lease ops to memory, and
// drops the claims revoked by an absolute write. Callers hold mu.
func (l *Batch) leasesCommittedLocked(b *batch, revoked []accountID) {
	for id, op := range b.leases.all {
		a, _ := l.accounts.get(id)
		if a == nil {
			continue
		}
		a.returned -= op.returned
		if op.drop || op.lost {
			a.dropLease()
		}
	}
	for _, id := range revoked {
		if a, _ := l.accounts.get(id); a != nil {
			a.dropLease()
		}
	}
}

// revokeLeases deletes every node's claim on the accounts an absolute admin
// write set: their leases were taken from a balance that no longer exists.
// Other nodes find their row gone at their next flush (or drop their lease
// at once on the bus's Forget) and stop spending it.
func revokeLeases(tx *gorm.DB, rows []watchedRow) ([]accountID, error) {
	var ids []accountID
	for _, r := range rows {
		if err := tx.Where("kind = ? AND account_id = ?", r.id.kind.table().label, r.id.id).Delete(&quotaLease{}).Error; err != nil {
			return nil, fmt.Errorf("revoke %s leases: %w", r.id, err)
		}
		ids = append(ids, r.id)
	}
	return ids, nil
}

// errLeaseRefused says a grant found the balance short.
var errLeaseRefused = errors.New("lease refused")

// grant claims more of id's balance for this node so that a reservation of
// amount fits, or says why not: the account's exhausted error when the free
// balance is short (Direct's rule), a wrapped database error when the
// database cannot be asked. One grant at a time per node (under flushMu, like
// Batch's balance loads): reservers waiting for it find the lease it brought
// and do not ask again.
func (l *Batch) grant(ctx context.Context, id accountID, amount int64) error {
	exhausted := id.kind.table().exhausted
	l.mu.Lock()
	refused := l.account(id).refused
	l.mu.Unlock()
	if refused {
		// Refused since the last flush: ask again only once a flush (or a
		// Forget) may have brought something, not on every request.
		return exhausted
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	a := l.account(id)
	switch {
	case l.closed || a.canSpend(amount):
		l.mu.Unlock()
		return nil // closed: Reserve writes through; or another grant served
	case a.refused:
		l.mu.Unlock()
		return exhausted
	}
	l.mu.Unlock()

	var x int64
	var err error
	for try := 1; ; try++ {
		x, err = l.grantTx(ctx, id, amount)
		// Two transactions of different nodes may still deadlock (MySQL's
		// gap locks); the one the database picked is retried at once.
		if err == nil || try == 3 || !isDeadlock(err) {
			break
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a = l.account(id)
	switch {
	case errors.Is(err, errLeaseRefused):
		a.refused = true
		return exhausted
	case err != nil:
		return fmt.Errorf("quota lease for %s (the database is needed once this node's lease is spent): %w", id, err)
	}
	a.balance += x
	a.claimed = true
	l.grants.Add(1)
	return nil
}

// grantTx is one try of grant's transaction; it returns what was claimed.
// Only the balance row is locked: it serialises the grants of the account on
// every node and every flush that moves its column, so the claims read
// after it can only have shrunk (a flush giving lease back, a claim
// expiring) by the time the transaction ends, which errs on the safe side.
// Locking the claims as well would take range locks that deadlock on MySQL.
func (l *Batch) grantTx(ctx context.Context, id accountID, amount int64) (int64, error) {
	s := l.lease
	var x int64
	refused := false
	err := l.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		col, err := lockBalance(tx, id)
		if err != nil {
			return err
		}
		label, now := id.kind.table().label, s.Now().UnixMilli()
		var rows []quotaLease
		if err := tx.Where("kind = ? AND account_id = ?", label, id.id).Find(&rows).Error; err != nil {
			return fmt.Errorf("read leases: %w", err)
		}
		var others int64
		mine := false
		for _, r := range rows {
			if r.ExpiresAt < now {
				// The node stopped flushing (killed): its claim is free
				// again. col never saw its unflushed spends, so nothing
				// goes back. Deleted by its key: no range lock.
				if err := tx.Where("kind = ? AND account_id = ? AND node = ? AND expires_at < ?", label, id.id, r.Node, now).
					Delete(&quotaLease{}).Error; err != nil {
					return fmt.Errorf("expire %s's lease: %w", r.Node, err)
				}
				continue
			}
			if r.Node == s.Node {
				mine = true
			} else {
				others += r.Amount
			}
		}
		l.mu.Lock()
		a := l.account(id)
		if !mine {
			a.dropLease() // expired or revoked: what it held is not ours
		}
		// Moves since the snapshot change L and U alike: held stays exact.
		held := a.balance - a.pending.Balance
		free := col - others - held
		need := max(amount, 1) - a.balance
		x = leaseChunk(a.recent, amount, need, free)
		record := held + a.returned + x
		l.mu.Unlock()
		if x < need {
			refused = true
			return nil // commit the expired claims' deletion all the same
		}
		row := quotaLease{Kind: label, AccountID: id.id, Node: s.Node, Amount: record, ExpiresAt: s.expiry()}
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "kind"}, {Name: "account_id"}, {Name: "node"}},
			DoUpdates: clause.AssignmentColumns([]string{"amount", "expires_at"}),
		}).Create(&row).Error
	})
	if err == nil && refused {
		return 0, errLeaseRefused
	}
	return x, err
}

// isDeadlock reports whether the database aborted a transaction to break a
// deadlock or a serialization conflict (MySQL 1213, PostgreSQL 40P01/40001).
func isDeadlock(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "deadlock") || strings.Contains(msg, "40001")
}

// lockBalance reads id's balance column, locking the row until the
// transaction ends, so grants of one account on every node, and the flushes
// moving it, take turns. A missing row reads as 0, which refuses.
func lockBalance(tx *gorm.DB, id accountID) (int64, error) {
	t := id.kind.table()
	var vals []int64
	if err := lockRows(tx).Model(t.model).Where("id = ?", id.id).Limit(1).Pluck(t.balance, &vals).Error; err != nil {
		return 0, fmt.Errorf("lock %s: %w", id, err)
	}
	if len(vals) == 0 {
		return 0, nil
	}
	return vals[0], nil
}

// lockRows makes a read lock its rows (SELECT … FOR UPDATE). SQLite has no
// row locks and needs none: every transaction of the store is a write
// transaction (_txlock=immediate), which excludes every other writer.
func lockRows(tx *gorm.DB) *gorm.DB {
	if tx.Dialector.Name() == "sqlite" {
		return tx
	}
	return tx.Clauses(clause.Locking{Strength: "UPDATE"})
}

// LeaseNode is the node name the ledger records its claims under ("" without
// leases).
func (l *Batch) LeaseNode() string {
	if l.lease == nil {
		return ""
	}
	return l.lease.Node
}
