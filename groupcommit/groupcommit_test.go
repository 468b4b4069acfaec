package groupcommit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// store is a fake transactional store: a commit applies all items or none.
type store struct {
	mu        sync.Mutex
	committed map[int]bool
	commits   int
	maxBatch  int
	bad       map[int]bool // items whose commit fails
	delay     time.Duration
}

func newStore() *store { return &store{committed: map[int]bool{}, bad: map[int]bool{}} }

func (s *store) commit(_ context.Context, items []int, _ []error) error {
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range items {
		if s.bad[it] {
			return errors.New("bad item")
		}
	}
	for _, it := range items {
		s.committed[it] = true
	}
	s.commits++
	s.maxBatch = max(s.maxBatch, len(items))
	return nil
}

func (s *store) has(it int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed[it]
}

func TestConcurrentCallersShareCommitsAndReturnAfterTheirOwn(t *testing.T) {
	st := newStore()
	st.delay = time.Millisecond
	c := New(st.commit, 0)
	defer c.Close(context.Background())
	const callers, each = 64, 20
	var wg sync.WaitGroup
	var early atomic.Int64
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				it := g*each + i
				if err := c.Do(context.Background(), it); err != nil {
					t.Errorf("Do(%d) = %v", it, err)
				}
				if !st.has(it) {
					early.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := early.Load(); n != 0 {
		t.Errorf("%d calls returned before their item was committed", n)
	}
	if got, want := len(st.committed), callers*each; got != want {
		t.Errorf("committed %d items, want %d", got, want)
	}
	if st.commits >= callers*each {
		t.Errorf("%d commits for %d items: nothing was shared", st.commits, callers*each)
	}
	if st.maxBatch > DefaultMaxBatch {
		t.Errorf("a batch of %d items, over the cap %d", st.maxBatch, DefaultMaxBatch)
	}
}

func TestOneBadItemFailsOnlyItsCaller(t *testing.T) {
	st := newStore()
	st.bad[13] = true
	st.delay = 2 * time.Millisecond
	c := New(st.commit, 0)
	defer c.Close(context.Background())
	errs := make([]error, 40)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.Do(context.Background(), i) }()
	}
	wg.Wait()
	for i, err := range errs {
		if got, want := err != nil, i == 13; got != want {
			t.Errorf("item %d: err = %v, want failure %t", i, err, want)
		}
		if got, want := st.has(i), i != 13; got != want {
			t.Errorf("item %d committed = %t, want %t", i, got, want)
		}
	}
}

func TestMaxBatchCapsATransaction(t *testing.T) {
	st := newStore()
	st.delay = 2 * time.Millisecond
	c := New(st.commit, 4)
	defer c.Close(context.Background())
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Do(context.Background(), i) }()
	}
	wg.Wait()
	if st.maxBatch > 4 {
		t.Errorf("batch of %d items, want at most 4", st.maxBatch)
	}
}

func TestCloseDrainsQueuedItems(t *testing.T) {
	st := newStore()
	release := make(chan struct{})
	var first atomic.Bool
	blocking := func(ctx context.Context, items []int, res []error) error {
		if first.CompareAndSwap(false, true) {
			<-release // hold the first commit so the rest queue up
		}
		return st.commit(ctx, items, res)
	}
	c := New(blocking, 0)
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.Do(context.Background(), i) }()
	}
	time.Sleep(20 * time.Millisecond) // let the callers queue
	closed := make(chan error, 1)
	go func() { closed <- c.Close(context.Background()) }()
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close = %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || !st.has(i) {
			t.Errorf("item %d: err %v, committed %t; want committed by Close", i, err, st.has(i))
		}
	}
	// After Close, Do writes on its own.
	if err := c.Do(context.Background(), 100); err != nil || !st.has(100) {
		t.Errorf("Do after Close: err %v, committed %t", err, st.has(100))
	}
}

func TestCloseGivesUpAtItsDeadline(t *testing.T) {
	hung := func(ctx context.Context, _ []int, _ []error) error {
		<-ctx.Done() // a database that never answers
		return ctx.Err()
	}
	c := New(hung, 0)
	done := make(chan error, 1)
	go func() { done <- c.Do(context.Background(), 1) }()
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the deadline", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("Do of a write that never committed returned nil")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Do still waiting after Close gave up")
	}
}

func TestDoReturnsWhenItsContextEnds(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	c := New(func(ctx context.Context, _ []int, _ []error) error {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil
	}, 0)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		_ = c.Close(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Do(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do = %v, want its context's deadline", err)
	}
}

func BenchmarkDo(b *testing.B) {
	c := New(func(context.Context, []int, []error) error { return nil }, 0)
	defer c.Close(context.Background())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = c.Do(context.Background(), 1)
		}
	})
}

func TestEachCallerGetsItsOwnResult(t *testing.T) {
	errOdd := errors.New("odd refused")
	c := New(func(_ context.Context, items []int, res []error) error {
		for i, it := range items {
			if it%2 == 1 {
				res[i] = errOdd
			}
		}
		return nil
	}, 0)
	defer c.Close(context.Background())
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			if got, want := c.Do(context.Background(), i), i%2 == 1; errors.Is(got, errOdd) != want {
				t.Errorf("item %d: err = %v, want refused %t", i, got, want)
			}
		})
	}
	wg.Wait()
}
