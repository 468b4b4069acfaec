package model

import (
	"context"
	"one-api/internal/logtest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"one-api/common"
	"one-api/internal/testdb"
)

// manualClock is a Clock that moves only when a test calls Advance. Tickers
// and timers fire from Advance, like the real ones (a tick nobody took is
// dropped). BlockUntil lets a test wait until a worker is parked on the clock
// before moving it, so no test needs a sleep.
type manualClock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	waiters map[*manualWaiter]struct{}
}

type manualWaiter struct {
	clk    *manualClock
	c      chan time.Time
	at     time.Time
	period time.Duration // 0 for a timer
}

func newManualClock() *manualClock {
	c := &manualClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), waiters: make(map[*manualWaiter]struct{})}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) add(d, period time.Duration) *manualWaiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &manualWaiter{clk: c, c: make(chan time.Time, 1), at: c.now.Add(d), period: period}
	c.waiters[w] = struct{}{}
	c.cond.Broadcast()
	return w
}

func (c *manualClock) NewTicker(d time.Duration) Ticker { return manualTicker{c.add(d, d)} }
func (c *manualClock) NewTimer(d time.Duration) Timer   { return c.add(d, 0) }

// Advance moves the clock and fires what is due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for w := range c.waiters {
		if w.at.After(c.now) {
			continue
		}
		select {
		case w.c <- c.now:
		default:
		}
		if w.period == 0 {
			delete(c.waiters, w)
			continue
		}
		for !w.at.After(c.now) {
			w.at = w.at.Add(w.period)
		}
	}
	c.cond.Broadcast()
}

// BlockUntil waits until n tickers and timers are active.
func (c *manualClock) BlockUntil(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.waiters) < n {
		c.cond.Wait()
	}
}

func (w *manualWaiter) C() <-chan time.Time { return w.c }

type manualTicker struct{ *manualWaiter }

func (t manualTicker) Stop() { t.manualWaiter.Stop() }

func (w *manualWaiter) Stop() bool {
	w.clk.mu.Lock()
	defer w.clk.mu.Unlock()
	_, ok := w.clk.waiters[w]
	delete(w.clk.waiters, w)
	w.clk.cond.Broadcast()
	return ok
}

func TestManualClock(t *testing.T) {
	clk := newManualClock()
	tick := clk.NewTicker(time.Second)
	timer := clk.NewTimer(3 * time.Second)
	clk.Advance(2500 * time.Millisecond)
	select {
	case <-tick.C():
	default:
		t.Fatal("ticker did not fire after 2.5 s")
	}
	select {
	case <-timer.C():
		t.Fatal("3 s timer fired after 2.5 s")
	default:
	}
	clk.Advance(time.Second)
	<-timer.C()
	if timer.Stop() {
		t.Error("Stop of a fired timer reported it active")
	}
	tick.Stop()
	clk.BlockUntil(0)
}

// openPhaseBStore opens a fresh migrated SQLite database in a temp dir, set
// up as production runs it.
func openPhaseBStore(t testing.TB) *Store {
	t.Helper()
	st, err := Open(OpenConfig{SQLitePath: filepath.Join(t.TempDir(), "phaseb.db"), SQLite: common.SQLiteConfig{
		OptimizeEnabled: true, BusyTimeout: 5000, JournalMode: "WAL", Synchronous: "NORMAL",
		CacheSize: -8000, TempStore: "MEMORY", WALAutoCheckpoint: 1000, MaxOpenConns: 4, MaxIdleConns: 4,
	}})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

var (
	countStatements = testdb.CountStatements
	failStatements  = testdb.FailStatements
	errInjected     = testdb.ErrInjected
)

// captureLog sends the process log to a buffer for the rest of the test.
func captureLog(t testing.TB) *logtest.Buffer {
	t.Helper()
	return logtest.Capture(t)
}
