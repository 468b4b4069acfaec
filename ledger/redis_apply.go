package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"one-api/model"
)

// An admin's absolute write (quota = X) cannot simply land in the database
// when balances live in Redis: other nodes still hold unflushed deltas that
// will be added to X afterwards, and the shared counter would keep the old
// balance. Apply therefore turns it into a delta: the counter is set to X
// (atomically, returning X − old), and the row gets old_row + (X − old)
// instead of X. The write stays the caller's opaque function (the same
// QuotaAdmin.Apply the Batch serves); the rows it touches are found by
// a gorm callback that, only inside Apply, reads the quota column of the rows
// an UPDATE of users or tokens is about to change.

const quotaWatchCallback = "oneapi:quota_watch"

type quotaWatchKey struct{}

// quotaWatch collects, during one Apply, the quota column of each row an
// UPDATE setting it was about to change, as it was before.
type quotaWatch struct {
	before []watchedRow
	err    error
}

type watchedRow struct {
	id  accountID
	val int64
}

// registerQuotaWatch installs the callback once per database handle.
func registerQuotaWatch(db *gorm.DB) error {
	if db.Callback().Update().Get(quotaWatchCallback) != nil {
		return nil
	}
	if err := db.Callback().Update().Before("gorm:update").Register(quotaWatchCallback, watchQuotaUpdate); err != nil {
		return fmt.Errorf("register quota watch: %w", err)
	}
	return nil
}

// watchQuotaUpdate records the rows an UPDATE inside Apply is about to
// change, when it sets a balance column.
func watchQuotaUpdate(db *gorm.DB) {
	w, _ := db.Statement.Context.Value(quotaWatchKey{}).(*quotaWatch)
	if w == nil || db.Error != nil {
		return
	}
	k, ok := kindOfTable(db.Statement.Table)
	if !ok || !setsColumn(db.Statement, k.table().balance) {
		return
	}
	col := k.table().balance
	q := db.Session(&gorm.Session{NewDB: true}).Table(db.Statement.Table).Select("id, " + col + " AS val")
	if where, ok := db.Statement.Clauses["WHERE"]; ok {
		q = q.Clauses(where.Expression)
	}
	var rows []struct {
		ID  int
		Val int64
	}
	if err := q.Scan(&rows).Error; err != nil {
		w.err = fmt.Errorf("read %s before the admin write: %w", col, err)
		db.AddError(w.err)
		return
	}
	for _, r := range rows {
		w.before = append(w.before, watchedRow{id: accountID{k, r.ID}, val: r.Val})
	}
}

// setsColumn reports whether the UPDATE writes col: a map naming it, or a
// struct update whose Select names it (or selects everything).
func setsColumn(stmt *gorm.Statement, col string) bool {
	switch d := stmt.Dest.(type) {
	case map[string]any:
		_, ok := d[col]
		return ok
	case map[string]string:
		_, ok := d[col]
		return ok
	}
	return slices.Contains(stmt.Selects, col) || slices.Contains(stmt.Selects, "*")
}

// Apply implements model.QuotaAdmin: write runs in the batch's flush
// transaction, after this node's pending deltas (as Batch.Apply), and every balance
// it sets absolutely becomes a delta in the database and the new value of the
// shared counter, so every node's unflushed movements still add up.
func (l *Redis) Apply(ctx context.Context, write func(tx model.Tx) error) error {
	w := &quotaWatch{}
	var moved []movedCounter
	err := l.batch.Apply(context.WithValue(ctx, quotaWatchKey{}, w), func(t model.Tx) error {
		if err := write(t); err != nil {
			return err
		}
		if w.err != nil {
			return w.err
		}
		var err error
		moved, err = l.rebase(ctx, t.Gorm(), w.before)
		return err
	})
	if err != nil {
		// The rows were rolled back: so must the counters be.
		for _, m := range moved {
			l.move(ctx, []string{m.key}, -m.delta)
		}
	}
	return err
}

type movedCounter struct {
	key   string
	delta int64
}

// rebase sets each written row's counter to the value written and rewrites
// the row as its old value plus the same delta.
func (l *Redis) rebase(ctx context.Context, tx *gorm.DB, rows []watchedRow) ([]movedCounter, error) {
	var moved []movedCounter
	for _, r := range rows {
		t := r.id.kind.table()
		col := t.balance
		var now []int64
		if err := tx.Table(t.name).Where("id = ?", r.id.id).Limit(1).Pluck(col, &now).Error; err != nil {
			return moved, fmt.Errorf("read %s after the admin write: %w", col, err)
		}
		if len(now) == 0 {
			continue // deleted by the write
		}
		key := l.key(r.id)
		rctx, cancel := context.WithTimeout(ctx, redisOpTimeout)
		delta, err := setScript.Run(rctx, l.rdb, []string{key}, now[0], balanceTTL.Milliseconds()).Int64()
		cancel()
		switch {
		case errors.Is(err, redis.Nil):
			// No counter: no node moved this balance lately, so the
			// absolute value stands; the first use reads it.
			continue
		case err != nil:
			// The counter is unknown now: write X as asked and re-read it
			// from the database once Redis answers.
			l.markStale([]string{key})
			continue
		}
		moved = append(moved, movedCounter{key: key, delta: delta})
		if fix := r.val + delta - now[0]; fix != 0 {
			if err := tx.Table(t.name).Where("id = ?", r.id.id).
				Update(col, gorm.Expr(col+" + ?", fix)).Error; err != nil {
				return moved, fmt.Errorf("rebase %s %d: %w", col, r.id.id, err)
			}
		}
	}
	return moved, nil
}

var _ model.QuotaAdmin = (*Redis)(nil)
