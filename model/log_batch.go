package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"one-api/common"
)

// insertChunk keeps one INSERT under every driver's bound-parameter limit
// (SQLite 32,766, PostgreSQL 65,535): 16 columns × 1,000 rows.
const insertChunk = 1000

// Backoff of a failed batch: first retry soon, then doubling up to the flush
// interval, so a database that is back is used again within one interval.
const logRetryBase = 100 * time.Millisecond

// LogBatcher is a LogSink that queues rows and writes them in batches: one
// transaction and one multi-row INSERT per batch, on size or on interval.
//
// Nothing is dropped: a failed batch is kept and retried with backoff while
// new rows wait in the bounded queue; when the queue is full Record waits for
// room (backpressure) and, if its context ends first, writes the row itself.
// Close writes every queued row before it returns; Record after Close writes
// through.
type LogBatcher struct {
	db *gorm.DB
	// full inserts a batch of exactly size rows: its INSERT is always the
	// same text, so it is prepared once per connection instead of once per
	// batch (preparing a 100-row INSERT cost a third of the batch's CPU).
	// One statement is atomic on its own, so it needs no transaction.
	full     *gorm.DB
	size     int
	interval time.Duration
	onFlush  func(int, error)

	queue chan *Log
	// abort wakes Records waiting for room once Close has begun, so they
	// write through instead of holding Close up.
	abort chan struct{}
	// drain tells the loop that no Record will enqueue any more.
	drain chan struct{}
	done  chan struct{}
	// stop cancels a write that hangs past Close's deadline.
	stopCtx context.Context
	stop    context.CancelFunc
	// writeCtx is the context of the writer's inserts: stopCtx, except on
	// SQLite, where go-sqlite3 runs each step of a cancellable statement on
	// a goroutine of its own (one per RETURNING row here: a sixth of a
	// batch's cost), and a write waits at most SQLITE_BUSY_TIMEOUT for its
	// turn anyway, so Close is not held up for long.
	writeCtx context.Context

	// mu makes "check closed, then enqueue" atomic against Close: Records
	// hold it shared while enqueueing, Close takes it exclusively to set
	// closed. The queue channel is never closed, so no send can panic.
	mu       sync.RWMutex
	closed   bool
	closeCtx context.Context

	startOnce sync.Once
	closeOnce sync.Once
	closeErr  error

	pending      atomic.Int64 // rows accepted, not yet on disk
	flushes      atomic.Int64
	failures     atomic.Int64
	rows         atomic.Int64
	blocked      atomic.Int64
	wroteThrough atomic.Int64
}

// LogBatchStats are the batcher's counters, for metrics.
type LogBatchStats struct {
	Pending       int64 // rows accepted and not yet written (queue + batch in hand)
	Flushes       int64 // batches written
	FailedFlushes int64 // batch attempts that failed (each is retried)
	Rows          int64 // rows written in batches
	Blocked       int64 // Record calls that had to wait for room in the queue
	WroteThrough  int64 // rows written synchronously: context ended while waiting, or after Close
}

// LogBatcherOptions tunes a LogBatcher; the zero value is production's.
type LogBatcherOptions struct {
	// OnFlush is called after every batch attempt with its rows and error.
	// It runs on the writer goroutine: keep it short.
	OnFlush func(rows int, err error)
	// QueueSize bounds the queue (0 = 20 batches, at least 1,000 rows).
	QueueSize int
}

// NewLogBatcher returns a batcher writing to db (Store.LogGorm) with
// LOG_BATCH_SIZE and LOG_BATCH_FLUSH_INTERVAL from cfg.
func NewLogBatcher(db *gorm.DB, cfg common.LogBatchConfig, o LogBatcherOptions) *LogBatcher {
	size := max(cfg.Size, 1)
	queue := o.QueueSize
	if queue <= 0 {
		queue = max(20*size, 1000)
	}
	interval := cfg.FlushInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	stopCtx, stop := context.WithCancel(context.Background())
	writeCtx := stopCtx
	if db.Dialector.Name() == "sqlite" {
		writeCtx = context.WithoutCancel(stopCtx)
	}
	return &LogBatcher{
		db: db, size: size, interval: interval, onFlush: o.OnFlush,
		full:  db.Session(&gorm.Session{PrepareStmt: true, SkipDefaultTransaction: true}),
		queue: make(chan *Log, queue),
		abort: make(chan struct{}), drain: make(chan struct{}), done: make(chan struct{}),
		stopCtx: stopCtx, stop: stop, writeCtx: writeCtx,
	}
}

// Start launches the writer goroutine. Close stops it; there is deliberately
// no context here, since the writer must outlive the signal that starts the
// shutdown: requests still draining keep logging.
func (b *LogBatcher) Start() {
	b.startOnce.Do(func() { go b.run() })
}

// Record implements LogSink. It copies the row, so the caller may reuse l.
func (b *LogBatcher) Record(ctx context.Context, l *Log) error {
	row := *l
	row.ID = 0
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return b.writeThrough(ctx, &row)
	}
	// Counted before the send: the writer may take the row and subtract it
	// before this goroutine runs again.
	b.pending.Add(1)
	select {
	case b.queue <- &row:
		b.mu.RUnlock()
		return nil
	default:
	}
	b.blocked.Add(1)
	select {
	case b.queue <- &row:
		b.mu.RUnlock()
		return nil
	case <-ctx.Done():
	case <-b.abort:
	}
	b.pending.Add(-1)
	b.mu.RUnlock()
	// The caller gave up waiting, but the row is owed: write it now, with a
	// context that is not already over.
	return b.writeThrough(context.WithoutCancel(ctx), &row)
}

func (b *LogBatcher) writeThrough(ctx context.Context, l *Log) error {
	b.wroteThrough.Add(1)
	if err := b.db.WithContext(ctx).Create(l).Error; err != nil {
		return fmt.Errorf("insert log: %w", err)
	}
	return nil
}

// QueueDepth is the number of rows accepted and not yet written.
func (b *LogBatcher) QueueDepth() int { return int(b.pending.Load()) }

// QueueCapacity is how many rows the queue holds before Record waits.
func (b *LogBatcher) QueueCapacity() int { return cap(b.queue) }

// Stats returns the counters.
func (b *LogBatcher) Stats() LogBatchStats {
	return LogBatchStats{
		Pending: b.pending.Load(), Flushes: b.flushes.Load(), FailedFlushes: b.failures.Load(),
		Rows: b.rows.Load(), Blocked: b.blocked.Load(), WroteThrough: b.wroteThrough.Load(),
	}
}

// Close writes every queued row and stops the writer. If the database stays
// unavailable until ctx ends, the rows still unwritten are printed to the
// process log (one [ERR] line each, as JSON, so they can be re-inserted) and
// Close returns an error counting them. Close is safe to call more than once.
func (b *LogBatcher) Close(ctx context.Context) error {
	b.closeOnce.Do(func() {
		close(b.abort)
		b.mu.Lock()
		b.closed = true
		b.closeCtx = ctx
		b.mu.Unlock()
		// A batcher that was never started still owes its queue.
		b.Start()
		close(b.drain)
		select {
		case <-b.done:
		case <-ctx.Done():
			b.stop()
			<-b.done
		}
		b.stop()
	})
	return b.closeErr
}

func (b *LogBatcher) run() {
	defer close(b.done)
	tick := time.NewTicker(b.interval)
	defer tick.Stop()
	batch := make([]*Log, 0, b.size)
	for {
		select {
		case l := <-b.queue:
			batch = append(batch, l)
			if len(batch) < b.size {
				continue
			}
		case <-tick.C:
			// Take what is already queued too, so "at least every interval"
			// holds for every row accepted before the tick.
			batch = b.take(batch)
		case <-b.drain:
			b.closeErr = b.finish(b.take(batch))
			return
		}
		var ok bool
		if batch, ok = b.write(batch); !ok {
			b.closeErr = b.finish(batch)
			return
		}
	}
}

// take moves every row waiting in the queue into batch without blocking.
func (b *LogBatcher) take(batch []*Log) []*Log {
	for {
		select {
		case l := <-b.queue:
			batch = append(batch, l)
		default:
			return batch
		}
	}
}

// write inserts batch, in chunks of at most size rows, retrying each failed
// chunk with backoff. It returns the unwritten rows and false when Close
// began during the retries: finish then takes over.
func (b *LogBatcher) write(batch []*Log) ([]*Log, bool) {
	for len(batch) > 0 {
		n := min(len(batch), b.size)
		backoff := logRetryBase
		for {
			err := b.insert(b.writeCtx, batch[:n])
			if err == nil {
				break
			}
			common.Error("log batch of %d rows not written, retrying in %s: %v", n, backoff, err)
			if !b.wait(backoff) {
				return batch, false
			}
			backoff = min(2*backoff, b.interval)
		}
		batch = batch[n:]
	}
	return batch[:0], true
}

// wait sleeps for d; false means Close began meanwhile.
func (b *LogBatcher) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.drain:
		return false
	}
}

// finish writes the rest during Close, retrying until Close's context ends.
func (b *LogBatcher) finish(batch []*Log) error {
	batch = b.take(batch)
	ctx := b.closeCtx
	backoff := logRetryBase
	for len(batch) > 0 {
		n := min(len(batch), insertChunk)
		err := b.insert(ctx, batch[:n])
		if err == nil {
			batch = batch[n:]
			continue
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
			backoff = min(2*backoff, b.interval)
			continue
		case <-ctx.Done():
			t.Stop()
		}
		for _, l := range batch {
			line, _ := json.Marshal(l)
			common.Error("unwritten log row: %s", line)
		}
		return fmt.Errorf("close log batcher: %d log rows not written: %w", len(batch), errors.Join(err, ctx.Err()))
	}
	return nil
}

// insert writes rows in one transaction. IDs are cleared first: a rolled-back
// attempt may have assigned them, and a retry must not insert them explicitly.
func (b *LogBatcher) insert(ctx context.Context, rows []*Log) error {
	for _, l := range rows {
		l.ID = 0
	}
	var err error
	if len(rows) == b.size && b.size <= insertChunk {
		err = b.full.WithContext(ctx).Create(rows).Error
	} else {
		// Partial batches (interval flushes, Close) vary in length, and so
		// in statement text: not worth a cached statement each.
		err = b.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return tx.CreateInBatches(rows, insertChunk).Error
		})
	}
	if err != nil {
		b.failures.Add(1)
		err = fmt.Errorf("insert %d logs: %w", len(rows), err)
	} else {
		b.flushes.Add(1)
		b.rows.Add(int64(len(rows)))
		b.pending.Add(-int64(len(rows)))
	}
	if b.onFlush != nil {
		b.onFlush(len(rows), err)
	}
	return err
}
