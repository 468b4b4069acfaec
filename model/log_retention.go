package model

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"one-api/common"
)

// LogRetention deletes consume logs older than LOG_RETENTION_DAYS in the
// background.
//
// Only consume logs (type 2) are deleted: they are nearly all of the table
// (one per relayed request), while top-up, management and system logs are a
// small audit trail an operator wants to keep; those can still be pruned by
// hand through the admin API (DELETE /api/log?target_timestamp=…, as in
// one-api).
//
// Rows go in small batches, ids first and then DELETE … WHERE id IN (…), which
// every dialect accepts (DELETE … LIMIT is MySQL-and-SQLite-with-a-flag only),
// with a pause in between so SQLite's single writer is handed back to the
// request path after each short transaction.
type LogRetention struct {
	db    *gorm.DB
	days  int
	batch int
	pause time.Duration
	every time.Duration
	hook  func(int64, error)
}

// LogRetentionOptions tunes a LogRetention; the zero value is production's.
type LogRetentionOptions struct {
	// Batch is the rows deleted per statement (0 = 1,000).
	Batch int
	// Pause is the wait between two delete statements, so writers get the
	// database in between (0 = 100 ms; negative = none).
	Pause time.Duration
	// Every is how often a sweep runs (0 = 1 h).
	Every time.Duration
	// OnSweep is called after every sweep Run makes.
	OnSweep func(deleted int64, err error)
}

// NewLogRetention returns a worker for db (Store.LogGorm); days 0 means keep
// everything and Run returns at once.
func NewLogRetention(db *gorm.DB, days int, o LogRetentionOptions) *LogRetention {
	r := &LogRetention{
		db: db, days: days, batch: o.Batch, pause: o.Pause,
		every: o.Every, hook: o.OnSweep,
	}
	if r.batch <= 0 {
		r.batch = 1000
	}
	switch {
	case r.pause == 0:
		r.pause = 100 * time.Millisecond
	case r.pause < 0:
		r.pause = 0
	}
	if r.every <= 0 {
		r.every = time.Hour
	}
	return r
}

// Run sweeps at once and then every hour (Every) until ctx
// ends. The caller owns the goroutine: cancel ctx and wait for Run to return.
func (r *LogRetention) Run(ctx context.Context) {
	if r.days <= 0 {
		return
	}
	tick := time.NewTicker(r.every)
	defer tick.Stop()
	for {
		n, err := r.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			common.Error("log retention: %v (deleted %d rows before it)", err, n)
		case n > 0:
			common.Info("log retention: deleted %d consume logs older than %d days", n, r.days)
		}
		if r.hook != nil {
			r.hook(n, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Sweep deletes the consume logs older than the retention, batch by batch,
// and returns how many rows went.
func (r *LogRetention) Sweep(ctx context.Context) (int64, error) {
	cutoff := time.Now().Add(-time.Duration(r.days) * 24 * time.Hour).Unix()
	var total int64
	for {
		var ids []int
		// No ORDER BY: any old rows will do, and the (created_at, type)
		// index answers this without a sort.
		err := r.db.WithContext(ctx).Model(&Log{}).
			Where("created_at < ? AND type = ?", cutoff, LogConsume).
			Limit(r.batch).Pluck("id", &ids).Error
		if err != nil {
			return total, fmt.Errorf("select old logs: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		res := r.db.WithContext(ctx).Where("id IN ?", ids).Delete(&Log{})
		if res.Error != nil {
			return total, fmt.Errorf("delete old logs: %w", res.Error)
		}
		total += res.RowsAffected
		if len(ids) < r.batch {
			return total, nil
		}
		if r.pause > 0 {
			t := time.NewTimer(r.pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return total, ctx.Err()
			case <-t.C:
			}
		}
	}
}
