package model

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"gorm.io/gorm"

	"one-api/common"
)

// Flush applies every pending delta now, in one transaction. On failure the
// deltas are kept for the next flush.
func (l *BatchLedger) Flush(ctx context.Context) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	return l.flushLocked(ctx, nil)
}

// Apply runs an admin write to quota columns (an absolute quota = ?, say) in
// the flush transaction, after the pending deltas, then drops every
// in-memory balance so the next Reserve reads the new values. Movements made
// before Apply land before the write, movements made during or after it land
// after, exactly as with DirectLedger. If write fails nothing is applied and
// the deltas stay pending.
func (l *BatchLedger) Apply(ctx context.Context, write func(tx Tx) error) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	return l.flushLocked(ctx, func(tx *gorm.DB) error { return write(NewTx(tx)) })
}

// flushLocked is one flush; the caller holds flushMu.
func (l *BatchLedger) flushLocked(ctx context.Context, write func(tx *gorm.DB) error) error {
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

	var users, tokens map[int]int64
	err := l.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := applyBatch(tx, b); err != nil {
			return err
		}
		if write != nil {
			if err := write(tx); err != nil {
				return err
			}
		}
		// Read back inside the transaction: the values include our deltas
		// and whatever other writers committed before us.
		var err error
		if users, err = readBalances(tx, &User{}, "quota", slices.Collect(maps.Keys(b.users))); err != nil {
			return err
		}
		tokens, err = readBalances(tx, &Token{}, "remain_quota", slices.Collect(maps.Keys(b.tokens)))
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
	if write != nil {
		for _, u := range l.users {
			u.loaded = false
		}
		for _, t := range l.tokens {
			t.loaded = false
		}
	}
	for id := range b.users {
		if u := l.users[id]; u != nil && u.loaded {
			u.balance = users[id] + u.pending.Quota
		}
	}
	for id := range b.tokens {
		if t := l.tokens[id]; t != nil && t.loaded {
			t.balance = tokens[id] + t.pending.RemainQuota
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
func (l *BatchLedger) takeLocked() *quotaBatch {
	b := &quotaBatch{users: make(map[int]UserDelta), tokens: make(map[int]TokenDelta), channels: l.channels}
	for id, u := range l.users {
		if u.pending != (UserDelta{}) {
			b.users[id] = u.pending
			u.pending = UserDelta{}
		}
	}
	for id, t := range l.tokens {
		if t.pending != (TokenDelta{}) {
			b.tokens[id] = t.pending
			t.pending = TokenDelta{}
		}
	}
	l.channels = make(map[int]int64)
	l.inflight = b
	return b
}

// mergeLocked puts a failed batch back; movements made meanwhile add up.
func (l *BatchLedger) mergeLocked(b *quotaBatch) {
	for id, d := range b.users {
		l.user(id).pending.add(d)
	}
	for id, d := range b.tokens {
		l.token(id).pending.add(d)
	}
	for id, q := range b.channels {
		l.channels[id] += q
	}
}

// forgetIdleLocked drops accounts with no movement since the previous flush:
// memory stays bounded by the active accounts, and an idle account's balance
// is read afresh when it comes back.
func (l *BatchLedger) forgetIdleLocked(b *quotaBatch) {
	for id, u := range l.users {
		if _, moved := b.users[id]; !moved && u.pending == (UserDelta{}) {
			delete(l.users, id)
		}
	}
	for id, t := range l.tokens {
		if _, moved := b.tokens[id]; !moved && t.pending == (TokenDelta{}) {
			delete(l.tokens, id)
		}
	}
}

// applyBatch writes a batch as relative updates, in id order so that two
// nodes flushing at once lock rows in the same order and cannot deadlock.
func applyBatch(tx *gorm.DB, b *quotaBatch) error {
	for _, id := range slices.Sorted(maps.Keys(b.users)) {
		d := b.users[id]
		if err := tx.Model(&User{}).Where("id = ?", id).Updates(map[string]any{
			"quota":         gorm.Expr("quota + ?", d.Quota),
			"used_quota":    gorm.Expr("used_quota + ?", d.UsedQuota),
			"request_count": gorm.Expr("request_count + ?", d.RequestCount),
		}).Error; err != nil {
			return fmt.Errorf("user %d: %w", id, err)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(b.tokens)) {
		d := b.tokens[id]
		if err := tx.Model(&Token{}).Where("id = ?", id).Updates(map[string]any{
			"remain_quota": gorm.Expr("remain_quota + ?", d.RemainQuota),
			"used_quota":   gorm.Expr("used_quota + ?", d.UsedQuota),
		}).Error; err != nil {
			return fmt.Errorf("token %d: %w", id, err)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(b.channels)) {
		if err := tx.Model(&Channel{}).Where("id = ?", id).
			Update("used_quota", gorm.Expr("used_quota + ?", b.channels[id])).Error; err != nil {
			return fmt.Errorf("channel %d: %w", id, err)
		}
	}
	return nil
}

// readBalances reads one quota column for ids (absent rows are left out).
func readBalances(tx *gorm.DB, table any, col string, ids []int) (map[int]int64, error) {
	out := make(map[int]int64, len(ids))
	for chunk := range slices.Chunk(ids, insertChunk) {
		var rows []struct {
			ID  int
			Val int64
		}
		if err := tx.Model(table).Select("id, "+col+" AS val").Where("id IN ?", chunk).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("read back %s: %w", col, err)
		}
		for _, r := range rows {
			out[r.ID] = r.Val
		}
	}
	return out, nil
}

// Start launches the flusher. Like LogBatcher it takes no context: it must
// outlive the shutdown signal until the HTTP server has drained.
func (l *BatchLedger) Start() {
	l.startOnce.Do(func() { go l.run() })
}

func (l *BatchLedger) run() {
	defer close(l.done)
	tick := l.clock.NewTicker(l.interval)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C():
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
func (l *BatchLedger) Close(ctx context.Context) error {
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

func (l *BatchLedger) finalFlush(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := l.Flush(ctx)
		if err == nil {
			return nil
		}
		t := l.clock.NewTimer(backoff)
		select {
		case <-t.C():
			backoff = min(2*backoff, l.interval)
			continue
		case <-ctx.Done():
			t.Stop()
		}
		l.mu.Lock()
		b := l.takeLocked()
		l.inflight = nil
		l.mu.Unlock()
		for id, d := range b.users {
			common.Error("unflushed quota delta: user %d quota %+d used_quota %+d request_count %+d", id, d.Quota, d.UsedQuota, d.RequestCount)
		}
		for id, d := range b.tokens {
			common.Error("unflushed quota delta: token %d remain_quota %+d used_quota %+d", id, d.RemainQuota, d.UsedQuota)
		}
		for id, q := range b.channels {
			common.Error("unflushed quota delta: channel %d used_quota %+d", id, q)
		}
		return fmt.Errorf("close ledger: %d accounts not flushed: %w", b.size(), errors.Join(err, ctx.Err()))
	}
}
