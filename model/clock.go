package model

import "time"

// Clock is the time source of the Phase B workers (log batcher, retention,
// token cache, batched ledger). It is injected so that tests move time by
// hand instead of sleeping.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
	NewTimer(d time.Duration) Timer
}

// Ticker is the part of *time.Ticker the workers use.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Timer is the part of *time.Timer the workers use.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker implements Clock.
func (SystemClock) NewTicker(d time.Duration) Ticker { return sysTicker{time.NewTicker(d)} }

// NewTimer implements Clock.
func (SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTicker struct{ t *time.Ticker }

func (t sysTicker) C() <-chan time.Time { return t.t.C }
func (t sysTicker) Stop()               { t.t.Stop() }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time { return t.t.C }
func (t sysTimer) Stop() bool          { return t.t.Stop() }

// WorkerOption tunes a Phase B component. Each constructor reads only the options
// that concern it (noted on each) and ignores the rest, so one list can be
// shared in tests.
type WorkerOption func(*workerOptions)

type workerOptions struct {
	clock          Clock
	onFlush        func(rows int, err error)
	queueSize      int
	retentionBatch int
	retentionPause time.Duration
	retentionEvery time.Duration
	onSweep        func(deleted int64, err error)
	negativeTTL    time.Duration
}

func buildWorkerOptions(opts []WorkerOption) workerOptions {
	o := workerOptions{clock: SystemClock{}, retentionPause: -1}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithClock replaces the wall clock (every component).
func WithClock(c Clock) WorkerOption { return func(o *workerOptions) { o.clock = c } }

// WithOnFlush is called after every flush attempt with the number of rows or
// accounts written and the error, if any (LogBatcher, BatchLedger). It runs on
// the flushing goroutine: keep it short.
func WithOnFlush(f func(rows int, err error)) WorkerOption {
	return func(o *workerOptions) { o.onFlush = f }
}

// WithQueueSize bounds the log queue (LogBatcher; default 20 batches, at
// least 1,000 rows).
func WithQueueSize(n int) WorkerOption { return func(o *workerOptions) { o.queueSize = n } }

// WithRetentionBatch sets the rows deleted per statement (LogRetention;
// default 1,000).
func WithRetentionBatch(n int) WorkerOption { return func(o *workerOptions) { o.retentionBatch = n } }

// WithRetentionPause sets the pause between two delete statements so
// writers get the database in between (LogRetention; default 100 ms; 0 = none).
func WithRetentionPause(d time.Duration) WorkerOption {
	return func(o *workerOptions) { o.retentionPause = d }
}

// WithRetentionEvery sets how often a sweep runs (LogRetention; default 1 h).
func WithRetentionEvery(d time.Duration) WorkerOption {
	return func(o *workerOptions) { o.retentionEvery = d }
}

// WithOnSweep is called after every retention sweep (LogRetention).
func WithOnSweep(f func(deleted int64, err error)) WorkerOption {
	return func(o *workerOptions) { o.onSweep = f }
}

// WithNegativeTTL sets how long an unknown key is remembered (TokenCache;
// default min(TTL, 5 s)).
func WithNegativeTTL(d time.Duration) WorkerOption {
	return func(o *workerOptions) { o.negativeTTL = d }
}
