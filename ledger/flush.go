package ledger

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"gorm.io/gorm"

	"one-api/common"
	"one-api/model"
)

// readChunk keeps one IN list under every driver's bound-parameter limit.
const readChunk = 1000

// Flush applies every pending delta now, in one transaction. On failure the
// deltas are kept for the next flush.
func (l *Batch) Flush(ctx context.Context) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	return l.flushLocked(ctx, nil)
}

// Apply runs an admin write to quota columns (an absolute quota = ?, say) in
// the flush transaction, after the pending deltas, then drops every
// in-memory balance so the next Reserve reads the new values. Movements made
// before Apply land before the write, movements made during or after it land
// after, exactly as with Direct. If write fails nothing is applied and the
// deltas stay pending. With leases, every node's claim on a balance the write
// sets is revoked in the same transaction (lease.go).
func (l *Batch) Apply(ctx context.Context, write func(tx model.Tx) error) error {
	return l.apply(ctx, write, true)
}

// apply is Apply; revoke false (Credit's relative writes) keeps the leases,
// which a credit cannot invalidate.
func (l *Batch) apply(ctx context.Context, write func(tx model.Tx) error, revoke bool) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.lease == nil || !revoke {
		return l.flushLocked(ctx, func(tx *gorm.DB) ([]accountID, error) { return nil, write(model.NewTx(tx)) })
	}
	// Only the admin's write is watched: the flush's own relative updates
	// of the same columns revoke nothing.
	w := &quotaWatch{}
	return l.flushLocked(ctx, func(tx *gorm.DB) ([]accountID, error) {
		watched := tx.WithContext(context.WithValue(tx.Statement.Context, quotaWatchKey{}, w))
		if err := write(model.NewTx(watched)); err != nil {
			return nil, err
		}
		if w.err != nil {
			return nil, w.err
		}
		return revokeLeases(tx, w.before)
	})
}

// flushLocked is one flush; the caller holds flushMu. write, if set, runs
// after the deltas in the same transaction and returns the accounts whose
// leases it revoked.
func (l *Batch) flushLocked(ctx context.Context, write func(tx *gorm.DB) ([]accountID, error)) error {
	l.mu.Lock()
	b := l.takeLocked()
	l.mu.Unlock()
	if b.size() == 0 && write == nil {
		l.mu.Lock()
		l.inflight = nil
		l.forgetIdleLocked(b)
		l.mu.Unlock()
		return nil
	}

	var balances map[accountID]int64
	var revoked []accountID
	err := l.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := applyBatch(tx, b); err != nil {
			return err
		}
		if l.lease != nil {
			if err := l.lease.writeLeases(tx, b); err != nil {
				return err
			}
		}
		if write != nil {
			var err error
			if revoked, err = write(tx); err != nil {
				return err
			}
		}
		if l.lease != nil {
			return nil // Reserve checks leases, not these balances
		}
		// Read back inside the transaction: the values include our deltas
		// and whatever other writers committed before us.
		var err error
		balances, err = readBalances(tx, b.accounts)
		return err
	})

	l.mu.Lock()
	l.inflight = nil
	if err != nil {
		l.mergeLocked(b)
		l.mu.Unlock()
		l.failures.Add(1)
		err = fmt.Errorf("flush quota deltas: %w", err)
		if l.onFlush != nil {
			l.onFlush(b.size(), err)
		}
		return err
	}
	if l.lease != nil {
		l.leasesCommittedLocked(b, revoked)
	}
	if write != nil {
		for _, a := range l.accounts.all {
			a.loaded = false
		}
	}
	for id := range b.accounts.all {
		if a, _ := l.accounts.get(id); a != nil && a.loaded {
			a.balance = balances[id] + a.pending.Balance
		}
	}
	l.forgetIdleLocked(b)
	l.mu.Unlock()
	l.flushes.Add(1)
	if l.onFlush != nil {
		l.onFlush(b.size(), nil)
	}
	return nil
}

// takeLocked moves every pending delta into a batch and marks it in flight.
func (l *Batch) takeLocked() *batch {
	b := &batch{accounts: newAccountMap[delta](), channels: l.channels}
	if l.lease != nil {
		b.leases = newAccountMap[leaseOp]()
	}
	for id, a := range l.accounts.all {
		spent := a.pending
		if spent != (delta{}) {
			b.accounts.set(id, spent)
			a.pending = delta{}
		}
		if l.lease != nil {
			l.lease.takeLeaseLocked(b, id, a, spent, l.closed)
		}
	}
	l.channels = make(map[int]int64)
	l.inflight = b
	return b
}

// mergeLocked puts a failed batch back; movements made meanwhile add up.
func (l *Batch) mergeLocked(b *batch) {
	for id, d := range b.accounts.all {
		l.account(id).pending.add(d)
	}
	for id, q := range b.channels {
		l.channels[id] += q
	}
}

// forgetIdleLocked drops accounts with no movement since the previous flush:
// memory stays bounded by the active accounts, and an idle account's balance
// is read afresh when it comes back.
func (l *Batch) forgetIdleLocked(b *batch) {
	for k, km := range l.accounts {
		for id, a := range km {
			if _, moved := b.accounts[k][id]; !moved && a.pending == (delta{}) && (l.lease == nil || a.leaseIdle()) {
				delete(km, id)
			}
		}
	}
}

// applyBatch writes a batch as relative updates, users then tokens then
// channels, each in id order, so that two nodes flushing at once lock rows
// in the same order and cannot deadlock.
func applyBatch(tx *gorm.DB, b *batch) error {
	for k, km := range b.accounts {
		for _, id := range slices.Sorted(maps.Keys(km)) {
			a := accountID{kind(k), id}
			if err := addDelta(tx, a, km[id]); err != nil {
				return fmt.Errorf("%s: %w", a, err)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(b.channels)) {
		if err := addChannelUsed(tx, id, b.channels[id]); err != nil {
			return fmt.Errorf("channel %d: %w", id, err)
		}
	}
	return nil
}

// readBalances reads the balance column of the accounts in b (absent rows
// are left out).
func readBalances(tx *gorm.DB, b accountMap[delta]) (map[accountID]int64, error) {
	out := make(map[accountID]int64, b.len())
	for k, km := range b {
		t := kind(k).table()
		for chunk := range slices.Chunk(slices.Collect(maps.Keys(km)), readChunk) {
			var rows []struct {
				ID  int
				Val int64
			}
			if err := tx.Model(t.model).Select("id, "+t.balance+" AS val").Where("id IN ?", chunk).Scan(&rows).Error; err != nil {
				return nil, fmt.Errorf("read back %s: %w", t.balance, err)
			}
			for _, r := range rows {
				out[accountID{kind(k), r.ID}] = r.Val
			}
		}
	}
	return out, nil
}

// Start launches the flusher. Like the log batcher it takes no context: it
// must outlive the shutdown signal until the HTTP server has drained.
func (l *Batch) Start() {
	l.startOnce.Do(func() { go l.run() })
}

func (l *Batch) run() {
	defer close(l.done)
	tick := time.NewTicker(l.interval)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
			if err := l.Flush(l.runCtx); err != nil {
				common.Error("%v; deltas kept for the next flush", err)
			}
		}
	}
}

// Close stops the flusher and flushes what is pending, retrying with backoff
// until ctx ends. If it cannot, every unflushed delta is printed to the
// process log ([ERR] lines, enough to apply them by hand) and the error is
// returned. Calls after Close write through to the database.
func (l *Batch) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		l.Start()
		close(l.stop)
		select {
		case <-l.done:
		case <-ctx.Done():
			l.cancelRun()
			<-l.done
		}
		l.cancelRun()
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.closeErr = l.finalFlush(ctx)
	})
	return l.closeErr
}

func (l *Batch) finalFlush(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := l.Flush(ctx)
		if err == nil {
			return nil
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
			backoff = min(2*backoff, l.interval)
			continue
		case <-ctx.Done():
			t.Stop()
		}
		l.mu.Lock()
		b := l.takeLocked()
		l.inflight = nil
		l.mu.Unlock()
		for id, d := range b.accounts.all {
			t := id.kind.table()
			msg := fmt.Sprintf("unflushed quota delta: %s %d %s %+d used_quota %+d", t.label, id.id, t.balance, d.Balance, d.Used)
			if t.requests != "" {
				msg += fmt.Sprintf(" %s %+d", t.requests, d.Requests)
			}
			common.Error("%s", msg)
		}
		for id, q := range b.channels {
			common.Error("unflushed quota delta: channel %d used_quota %+d", id, q)
		}
		return fmt.Errorf("close ledger: %d accounts not flushed: %w", b.size(), errors.Join(err, ctx.Err()))
	}
}
