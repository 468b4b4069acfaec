package model

import "time"

// Clock is the time source of the batched quota ledger, injected so that
// tests move time by hand instead of sleeping. (The log batcher, log
// retention and token cache use the runtime's clock; their tests run in a
// testing/synctest bubble.)
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

// WorkerOption tunes the batched quota ledger.
type WorkerOption func(*workerOptions)

type workerOptions struct {
	clock   Clock
	onFlush func(rows int, err error)
}

func buildWorkerOptions(opts []WorkerOption) workerOptions {
	o := workerOptions{clock: SystemClock{}}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithClock replaces the wall clock.
func WithClock(c Clock) WorkerOption { return func(o *workerOptions) { o.clock = c } }

// WithOnFlush is called after every flush attempt with the number of rows or
// accounts written and the error, if any. It runs on
// the flushing goroutine: keep it short.
func WithOnFlush(f func(rows int, err error)) WorkerOption {
	return func(o *workerOptions) { o.onFlush = f }
}
