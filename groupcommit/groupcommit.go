// Package groupcommit lets concurrent callers share one transaction while
// each still waits for its own write to be durable (issue 19: the default
// profile's synchronous ledger at batched speed).
//
// One goroutine owns the queue. It takes whatever is queued (up to
// MaxBatch items) and commits it in one call; while that commit runs, the
// next batch accumulates. There is no timer window: an idle gateway commits
// a lone item at once, a busy one commits in larger batches. If a batch
// fails, its items are retried one by one, so one bad item fails only its
// own caller.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
)

// CommitFunc writes items in one transaction: all of them or none. It may
// set results[i], which has len(items), to an outcome of item i that is
// not a failure of the transaction (a refused reservation, say); when it
// returns an error the results are ignored.
type CommitFunc[T any] func(ctx context.Context, items []T, results []error) error

// DefaultMaxBatch bounds a transaction: enough to amortise a commit over the
// gateway's whole in-flight load, small enough that one batch's statements
// stay far under every driver's bound-parameter limit.
const DefaultMaxBatch = 256

// ErrClosed is returned by Do once the committer's Close gave up on a queue
// it could not write before its context ended.
var ErrClosed = errors.New("groupcommit: closed before the write was committed")

type request[T any] struct {
	item T
	done chan error // buffered: the committer never blocks on a caller
}

// Committer batches items from concurrent Do calls into shared commits.
type Committer[T any] struct {
	commit   CommitFunc[T]
	maxBatch int

	queue chan *request[T]
	drain chan struct{} // closed by Close: no Do will enqueue any more
	done  chan struct{} // closed when the loop has returned
	// stopCtx is the commits' context; cancelled when Close's deadline
	// passes, so a hung write ends instead of holding the stop.
	stopCtx context.Context
	stop    context.CancelFunc

	// mu makes "check closed, then enqueue" atomic against Close: the
	// queue is never closed, so no send can panic.
	mu     sync.RWMutex
	closed bool

	closeOnce sync.Once
	pool      sync.Pool
}

// New starts a committer calling commit; maxBatch <= 0 means
// DefaultMaxBatch. Close stops it.
func New[T any](commit CommitFunc[T], maxBatch int) *Committer[T] {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	c := &Committer[T]{
		commit: commit, maxBatch: maxBatch,
		queue: make(chan *request[T], 4*maxBatch),
		drain: make(chan struct{}), done: make(chan struct{}),
	}
	c.stopCtx, c.stop = context.WithCancel(context.Background())
	c.pool.New = func() any { return &request[T]{done: make(chan error, 1)} }
	go c.run()
	return c
}

// Do queues item and returns once it is committed (nil) or failed (its own
// error, never another item's). If ctx ends first Do returns ctx's error and
// the item may still be committed. After Close, Do commits item on its own.
func (c *Committer[T]) Do(ctx context.Context, item T) error {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return c.commitOne(ctx, item)
	}
	r := c.pool.Get().(*request[T])
	r.item = item
	select {
	case c.queue <- r:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		c.pool.Put(r)
		return fmt.Errorf("groupcommit: waiting for room in the queue: %w", ctx.Err())
	}
	select {
	case err := <-r.done:
		var zero T
		r.item = zero
		c.pool.Put(r)
		return err
	case <-ctx.Done():
		// r is the committer's now: it answers into the buffered channel
		// and nobody reads it, so it is not reused.
		return fmt.Errorf("groupcommit: waiting for the commit: %w", ctx.Err())
	}
}

// Close commits everything queued and stops the goroutine. If ctx ends
// first, the commit in progress is cancelled and the callers still queued
// get ErrClosed. Safe to call more than once.
func (c *Committer[T]) Close(ctx context.Context) error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.drain)
		select {
		case <-c.done:
		case <-ctx.Done():
			c.stop()
			<-c.done
			err = fmt.Errorf("groupcommit: close: %w", ctx.Err())
		}
		c.stop()
	})
	return err
}

func (c *Committer[T]) run() {
	defer close(c.done)
	batch := make([]*request[T], 0, c.maxBatch)
	items := make([]T, 0, c.maxBatch)
	results := make([]error, c.maxBatch)
	for {
		select {
		case r := <-c.queue:
			batch = append(batch, r)
		case <-c.drain:
			// Every Do that enqueued did so before closed was set, so
			// the queue holds all that is left.
			for {
				batch = c.take(batch[:0])
				if len(batch) == 0 {
					return
				}
				items = c.write(batch, items, results)
			}
		}
		// Let the goroutines that are ready to queue do so first: the
		// first item woke this goroutine at once, and with one P (a
		// gateway pinned to a core) the batch would otherwise be that
		// item alone. One yield, not a timer: an idle gateway loses ~µs.
		runtime.Gosched()
		batch = c.take(batch)
		items = c.write(batch, items, results)
		batch = batch[:0]
	}
}

// take adds what is queued to batch, up to maxBatch, without waiting.
func (c *Committer[T]) take(batch []*request[T]) []*request[T] {
	for len(batch) < c.maxBatch {
		select {
		case r := <-c.queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// write commits batch and answers each caller. items and results are
// scratch space.
func (c *Committer[T]) write(batch []*request[T], items []T, results []error) []T {
	items = items[:0]
	for _, r := range batch {
		items = append(items, r.item)
	}
	results = results[:len(batch)]
	clear(results)
	if err := c.call(c.stopCtx, items, results); err != nil {
		if len(batch) == 1 {
			batch[0].done <- err
			return clear0(items)
		}
		// The shared transaction rolled back as a whole: each item alone
		// finds out whether it was the one at fault.
		for _, r := range batch {
			r.done <- c.one(c.stopCtx, r.item)
		}
		return clear0(items)
	}
	for i, r := range batch {
		r.done <- results[i]
	}
	return clear0(items)
}

func (c *Committer[T]) call(ctx context.Context, items []T, results []error) error {
	if ctx.Err() != nil && ctx == c.stopCtx {
		return ErrClosed
	}
	return c.commit(ctx, items, results)
}

// one commits item on its own and returns its outcome.
func (c *Committer[T]) one(ctx context.Context, item T) error {
	var res [1]error
	if err := c.call(ctx, []T{item}, res[:]); err != nil {
		return err
	}
	return res[0]
}

func (c *Committer[T]) commitOne(ctx context.Context, item T) error {
	return c.one(ctx, item)
}

// clear0 drops the references the scratch slice holds, so committed items
// are not kept alive until the next batch.
func clear0[T any](s []T) []T {
	clear(s)
	return s[:0]
}
