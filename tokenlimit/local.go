package tokenlimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Word layout of a token's state: one uint64 moved by compare-and-swap, so
// that counting a request takes no lock and two tokens never share one.
//
//	bits  0–19: requests in the current window
//	bits 20–39: requests in the previous window
//	bits 40–63: the current window's index, modulo 2^24 (only compared for
//	            equality and adjacency, so the wrap-around after 31 years is
//	            harmless)
const (
	countBits  = 20
	countMask  = 1<<countBits - 1
	indexShift = 2 * countBits
	indexMask  = 1<<(64-indexShift) - 1
)

// sweepEvery is how often, at most, slots of tokens idle for two windows
// are freed (on the path that adds a token, never on a hit).
const sweepEvery = 10 * time.Minute

// Local is the in-process Limiter. A token's slot is found in a sync.Map
// (reads are lock-free) and counted with one compare-and-swap.
type Local struct {
	now       func() time.Time
	slots     sync.Map // int (token id) → *atomic.Uint64
	nextSweep atomic.Int64
}

// NewLocal returns an empty Local on the wall clock.
func NewLocal() *Local { return NewLocalClock(time.Now) }

// NewLocalClock returns an empty Local reading time from now (for tests).
func NewLocalClock(now func() time.Time) *Local {
	l := &Local{now: now}
	l.nextSweep.Store(now().Add(sweepEvery).UnixNano())
	return l
}

// Allow implements Limiter.
func (l *Local) Allow(_ context.Context, tokenID, limit int) (bool, time.Duration) {
	if limit <= 0 {
		return true, 0
	}
	now := l.now()
	idx, elapsed := windowOf(now)
	slot := l.slot(tokenID, now)
	for {
		old := slot.Load()
		prev, cur := shift(old, idx)
		if estimate(prev, cur, elapsed) >= float64(min(limit, MaxLimit)) {
			return false, retryAfter(prev, cur, int64(limit), elapsed)
		}
		if slot.CompareAndSwap(old, pack(idx, prev, cur+1)) {
			return true, 0
		}
	}
}

// slot returns token id's state word, adding one (and now and then freeing
// idle ones) when it has none.
func (l *Local) slot(tokenID int, now time.Time) *atomic.Uint64 {
	if v, ok := l.slots.Load(tokenID); ok {
		return v.(*atomic.Uint64)
	}
	l.maybeSweep(now)
	v, _ := l.slots.LoadOrStore(tokenID, new(atomic.Uint64))
	return v.(*atomic.Uint64)
}

// maybeSweep frees the slots whose counts have all aged out, at most once
// per sweepEvery. A request racing the delete may count on a slot being
// dropped: at worst that one request is forgotten.
func (l *Local) maybeSweep(now time.Time) {
	next := l.nextSweep.Load()
	if now.UnixNano() < next || !l.nextSweep.CompareAndSwap(next, now.Add(sweepEvery).UnixNano()) {
		return
	}
	idx, _ := windowOf(now)
	l.slots.Range(func(k, v any) bool {
		if prev, cur := shift(v.(*atomic.Uint64).Load(), idx); prev == 0 && cur == 0 {
			l.slots.Delete(k)
		}
		return true
	})
}

// shift reads a state word as seen from window idx: the counts move back one
// window per window passed.
func shift(word uint64, idx int64) (prev, cur int64) {
	at := int64(word >> indexShift)
	prev, cur = int64(word>>countBits&countMask), int64(word&countMask)
	switch uint64(idx) & indexMask {
	case uint64(at):
		return prev, cur
	case uint64(at+1) & indexMask:
		return cur, 0
	default:
		return 0, 0
	}
}

func pack(idx, prev, cur int64) uint64 {
	return (uint64(idx)&indexMask)<<indexShift | uint64(prev)&countMask<<countBits | uint64(cur)&countMask
}
