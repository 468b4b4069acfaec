package model

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"gorm.io/gorm"

	"one-api/common"
)

type flushEvent struct {
	rows int
	err  error
}

// newTestBatcher returns a batcher (queue: 0 = the default) whose flush
// attempts arrive on the returned channel. Tests that move time call it in
// a synctest bubble, where the 5 s interval passes only when every
// goroutine waits, and then exactly.
func newTestBatcher(t *testing.T, db *gorm.DB, size, queue int) (*LogBatcher, chan flushEvent) {
	t.Helper()
	events := make(chan flushEvent, 1000)
	b := NewLogBatcher(db, common.LogBatchConfig{Enabled: true, Size: size, FlushInterval: 5 * time.Second, ConsumeEnabled: true},
		LogBatcherOptions{QueueSize: queue, OnFlush: func(n int, err error) { events <- flushEvent{n, err} }})
	t.Cleanup(func() { b.Close(context.Background()) })
	return b, events
}

// openBatcherStore is openPhaseBStore for a test that runs a batcher in a
// synctest bubble: the store, and gorm's prepared-statement cache the
// batcher's full batches use, are made outside the bubble, since that
// cache's janitor goroutine never exits and a bubble ends only when every
// goroutine started in it has.
func openBatcherStore(t *testing.T) *Store {
	t.Helper()
	st := openPhaseBStore(t)
	st.logDB.Session(&gorm.Session{PrepareStmt: true})
	return st
}

func consumeLog(i int) *Log {
	return &Log{UserID: 1, CreatedAt: int64(1_700_000_000 + i), Type: LogConsume, Username: "u",
		TokenName: "t", ModelName: "gpt-4o", Quota: i, PromptTokens: 10, CompletionTokens: 20, ChannelID: 1,
		RequestID: fmt.Sprintf("req-%d", i)}
}

func countLogs(t *testing.T, db *gorm.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&Log{}).Count(&n).Error; err != nil {
		t.Fatalf("count logs: %v", err)
	}
	return n
}

func record(t *testing.T, b *LogBatcher, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := b.Record(context.Background(), consumeLog(i)); err != nil {
			t.Fatalf("Record(%d): %v", i, err)
		}
	}
}

func TestLogBatcherFlushesOnSize(t *testing.T) {
	st := openBatcherStore(t)
	synctest.Test(t, func(t *testing.T) { testLogBatcherFlushesOnSize(t, st) })
}

func testLogBatcherFlushesOnSize(t *testing.T, st *Store) {
	b, events := newTestBatcher(t, st.logDB, 50, 0)
	inserts := countStatements(t, st.logDB)
	b.Start()

	record(t, b, 0, 50)
	if ev := <-events; ev.rows != 50 || ev.err != nil {
		t.Fatalf("flush = %d rows, %v; want 50 rows, nil", ev.rows, ev.err)
	}
	if g, w := countLogs(t, st.logDB), int64(50); g != w {
		t.Errorf("rows after size flush = %d, want %d", g, w)
	}
	// One multi-row INSERT for the batch, plus the COUNT above.
	if g, w := inserts.Load(), int64(2); g != w {
		t.Errorf("statements = %d, want %d (one INSERT, one COUNT)", g, w)
	}
	if g := b.QueueDepth(); g != 0 {
		t.Errorf("QueueDepth = %d after flush, want 0", g)
	}
}

func TestLogBatcherFlushesOnInterval(t *testing.T) {
	st := openBatcherStore(t)
	synctest.Test(t, func(t *testing.T) { testLogBatcherFlushesOnInterval(t, st) })
}

func testLogBatcherFlushesOnInterval(t *testing.T, st *Store) {
	b, events := newTestBatcher(t, st.logDB, 50, 0)
	start := time.Now()
	b.Start()

	record(t, b, 0, 3)
	if g, w := b.QueueDepth(), 3; g != w {
		t.Errorf("QueueDepth = %d, want %d", g, w)
	}
	if ev := <-events; ev.rows != 3 || ev.err != nil {
		t.Fatalf("flush = %d rows, %v; want 3 rows, nil", ev.rows, ev.err)
	}
	if g, w := time.Since(start), 5*time.Second; g != w {
		t.Errorf("flushed after %v, want the interval, %v", g, w)
	}
	if g, w := countLogs(t, st.logDB), int64(3); g != w {
		t.Errorf("rows after interval = %d, want %d", g, w)
	}
	var got Log
	if err := st.logDB.Where("request_id = ?", "req-2").Take(&got).Error; err != nil {
		t.Fatalf("read back: %v", err)
	}
	if got.Quota != 2 || got.ModelName != "gpt-4o" || got.Type != LogConsume {
		t.Errorf("row read back = %+v, want quota 2, gpt-4o, type 2", got)
	}
}

func TestLogBatcherRetriesFailedBatch(t *testing.T) {
	st := openBatcherStore(t)
	synctest.Test(t, func(t *testing.T) { testLogBatcherRetriesFailedBatch(t, st) })
}

func testLogBatcherRetriesFailedBatch(t *testing.T, st *Store) {
	logs := captureLog(t)
	left := failStatements(t, st.logDB, "create", "logs", 2)
	b, events := newTestBatcher(t, st.logDB, 4, 0)
	b.Start()

	record(t, b, 0, 4)
	start := time.Now()
	for attempt := range 2 {
		if ev := <-events; ev.rows != 4 || !errors.Is(ev.err, errInjected) {
			t.Fatalf("attempt %d = %d rows, %v; want 4 rows, injected failure", attempt+1, ev.rows, ev.err)
		}
		// While the batch waits for its retry, the request path still queues.
		record(t, b, 4+attempt, 5+attempt)
	}
	if ev := <-events; ev.rows != 4 || ev.err != nil {
		t.Fatalf("third attempt = %d rows, %v; want 4 rows, nil", ev.rows, ev.err)
	}
	if g, w := time.Since(start), 300*time.Millisecond; g != w {
		t.Errorf("third attempt after %v, want %v (backoffs of 100 and 200 ms)", g, w)
	}
	if left.Load() != 0 {
		t.Fatalf("%d injected failures unused", left.Load())
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if g, w := countLogs(t, st.logDB), int64(6); g != w {
		t.Errorf("rows = %d, want %d: nothing may be lost", g, w)
	}
	s := b.Stats()
	if s.FailedFlushes != 2 || s.Rows != 6 || s.Pending != 0 {
		t.Errorf("stats = %+v, want 2 failed flushes, 6 rows, 0 pending", s)
	}
	if !strings.Contains(logs.String(), "log batch of 4 rows not written, retrying") {
		t.Errorf("no retry line in the log:\n%s", logs)
	}
}

func TestLogBatcherCloseDrains(t *testing.T) {
	for _, started := range []bool{true, false} {
		t.Run(fmt.Sprintf("started=%v", started), func(t *testing.T) {
			st := openPhaseBStore(t)
			b, _ := newTestBatcher(t, st.logDB, 100, 0)
			if started {
				b.Start()
			}
			record(t, b, 0, 250)
			if err := b.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if g, w := countLogs(t, st.logDB), int64(250); g != w {
				t.Errorf("rows after Close = %d, want %d", g, w)
			}
			// After Close a row is written through, not queued for nobody.
			record(t, b, 250, 251)
			if g, w := countLogs(t, st.logDB), int64(251); g != w {
				t.Errorf("rows after Record past Close = %d, want %d", g, w)
			}
			if err := b.Close(context.Background()); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestLogBatcherBackpressure(t *testing.T) {
	st := openPhaseBStore(t)
	b, _ := newTestBatcher(t, st.logDB, 100, 2)
	record(t, b, 0, 2) // queue full; the writer is not running yet

	blocked := make(chan error, 1)
	go func() { blocked <- b.Record(context.Background(), consumeLog(2)) }()
	for b.Stats().Blocked == 0 {
		runtime.Gosched()
	}
	select {
	case err := <-blocked:
		t.Fatalf("Record returned (%v) while the queue was full", err)
	default:
	}

	// A caller that cannot wait gets its row written, not dropped.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Record(ctx, consumeLog(3)); err != nil {
		t.Fatalf("Record with ended context: %v", err)
	}
	if g, w := countLogs(t, st.logDB), int64(1); g != w {
		t.Errorf("rows written through = %d, want %d", g, w)
	}

	b.Start() // the writer makes room; the blocked Record goes into the queue
	if err := <-blocked; err != nil {
		t.Fatalf("blocked Record: %v", err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if g, w := countLogs(t, st.logDB), int64(4); g != w {
		t.Errorf("rows = %d, want %d", g, w)
	}
	if s := b.Stats(); s.WroteThrough != 1 || s.Blocked < 1 {
		t.Errorf("stats = %+v, want 1 written through and at least 1 blocked", s)
	}
}

func TestLogBatcherCloseReleasesBlockedRecords(t *testing.T) {
	st := openPhaseBStore(t)
	b, _ := newTestBatcher(t, st.logDB, 100, 1)
	record(t, b, 0, 1)
	blocked := make(chan error, 1)
	go func() { blocked <- b.Record(context.Background(), consumeLog(1)) }()
	for b.Stats().Blocked == 0 {
		runtime.Gosched()
	}
	// The writer never ran (or is stuck retrying): Close must not wait for
	// the queue to make room; the waiting row is written through instead.
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-blocked; err != nil {
		t.Fatalf("blocked Record: %v", err)
	}
	if g, w := countLogs(t, st.logDB), int64(2); g != w {
		t.Errorf("rows = %d, want %d", g, w)
	}
}

func TestLogBatcherCloseReportsWhatItCouldNotWrite(t *testing.T) {
	st := openPhaseBStore(t)
	logs := captureLog(t)
	failStatements(t, st.logDB, "create", "logs", 1<<30)
	b, _ := newTestBatcher(t, st.logDB, 100, 0)
	b.Start()
	record(t, b, 0, 3)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "3 log rows not written") {
		t.Fatalf("Close = %v, want an error counting 3 unwritten rows", err)
	}
	if g, w := strings.Count(logs.String(), "[ERR]"), 3; g < w {
		t.Errorf("%d [ERR] lines, want at least %d", g, w)
	}
	if !strings.Contains(logs.String(), `unwritten log row: {"id":0,"user_id":1`) ||
		!strings.Contains(logs.String(), `"request_id":"req-2"`) {
		t.Errorf("unwritten rows not printed as JSON:\n%s", logs)
	}
}

func TestLogBatcherConcurrent(t *testing.T) {
	st := openBatcherStore(t)
	synctest.Test(t, func(t *testing.T) { testLogBatcherConcurrent(t, st) })
}

func testLogBatcherConcurrent(t *testing.T, st *Store) {
	b, _ := newTestBatcher(t, st.logDB, 7, 16)
	b.Start()
	const workers, each = 64, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { record(t, b, w*each, (w+1)*each) })
	}
	wg.Wait()
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if g, w := countLogs(t, st.logDB), int64(workers*each); g != w {
		t.Errorf("rows = %d, want %d", g, w)
	}
	var distinct int64
	st.logDB.Model(&Log{}).Distinct("request_id").Count(&distinct)
	if distinct != workers*each {
		t.Errorf("distinct request ids = %d, want %d", distinct, workers*each)
	}
}

func TestLogBatcherCopiesRow(t *testing.T) {
	st := openPhaseBStore(t)
	b, _ := newTestBatcher(t, st.logDB, 100, 0)
	l := consumeLog(7)
	if err := b.Record(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	l.Quota = 999 // the caller reuses its struct
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got Log
	st.logDB.Take(&got)
	if got.Quota != 7 {
		t.Errorf("quota written = %d, want 7 (the value at Record time)", got.Quota)
	}
	if l.ID != 0 {
		t.Errorf("caller's row got id %d: the batcher must not write to it", l.ID)
	}
}

func BenchmarkLogSink(b *testing.B) {
	for _, name := range []string{"direct", "batch"} {
		b.Run(name, func(b *testing.B) {
			st := openPhaseBStore(b)
			n := countStatements(b, st.logDB)
			var sink LogSink = NewDirectLogSink(st.logDB)
			var batcher *LogBatcher
			if name == "batch" {
				batcher = NewLogBatcher(st.logDB, common.LogBatchConfig{Size: 50, FlushInterval: time.Hour}, LogBatcherOptions{})
				batcher.Start()
				sink = batcher
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := sink.Record(context.Background(), consumeLog(i)); err != nil {
					b.Fatal(err)
				}
			}
			if batcher != nil {
				if err := batcher.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n.Load())/float64(b.N), "stmts/op")
		})
	}
}
