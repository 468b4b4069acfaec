package model

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"gorm.io/gorm"
)

const day = 24 * time.Hour

// seedAgedLogs inserts n logs of type typ created age before now.
func seedAgedLogs(t *testing.T, db *gorm.DB, now time.Time, typ, n int, age time.Duration) {
	t.Helper()
	rows := make([]*Log, n)
	for i := range rows {
		rows[i] = &Log{UserID: 1, Type: typ, CreatedAt: now.Add(-age).Unix(), Quota: 1}
	}
	if err := db.Create(rows).Error; err != nil {
		t.Fatalf("seed logs: %v", err)
	}
}

func countLogsOfType(t *testing.T, db *gorm.DB, typ int) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&Log{}).Where("type = ?", typ).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLogRetentionSweepDeletesOnlyOldConsumeLogs(t *testing.T) {
	synctest.Test(t, testLogRetentionSweepDeletesOnlyOldConsumeLogs)
}

func testLogRetentionSweepDeletesOnlyOldConsumeLogs(t *testing.T) {
	st := openPhaseBStore(t)
	now := time.Now()
	seedAgedLogs(t, st.logDB, now, LogConsume, 10, 31*day)            // past retention
	seedAgedLogs(t, st.logDB, now, LogConsume, 3, 29*day)             // inside it
	seedAgedLogs(t, st.logDB, now, LogTopUp, 4, 400*day)              // audit trail, kept
	seedAgedLogs(t, st.logDB, now, LogManage, 2, 400*day)             // audit trail, kept
	seedAgedLogs(t, st.logDB, now, LogConsume, 1, 30*day+time.Second) // just past

	var deletes int64
	if err := st.logDB.Callback().Delete().Before("gorm:delete").Register("phaseb:deletes", func(*gorm.DB) { deletes++ }); err != nil {
		t.Fatal(err)
	}
	r := NewLogRetention(st.logDB, 30, LogRetentionOptions{Batch: 3, Pause: -1})
	n, err := r.Sweep(context.Background())
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if n != 11 {
		t.Errorf("deleted %d rows, want 11", n)
	}
	if deletes != 4 {
		t.Errorf("%d DELETE statements, want 4 (batches of 3, 3, 3, 2)", deletes)
	}
	for _, c := range []struct{ typ, want int }{{LogConsume, 3}, {LogTopUp, 4}, {LogManage, 2}} {
		if g := countLogsOfType(t, st.logDB, c.typ); g != int64(c.want) {
			t.Errorf("type %d rows left = %d, want %d", c.typ, g, c.want)
		}
	}
	var oldest int64
	st.logDB.Model(&Log{}).Where("type = ?", LogConsume).Select("MIN(created_at)").Scan(&oldest)
	if cutoff := now.Add(-30 * day).Unix(); oldest < cutoff {
		t.Errorf("a consume log from %d survived the cutoff %d", oldest, cutoff)
	}
}

// The bubble's clock moves only when every goroutine in it waits on time,
// so the pauses and the hourly tick pass at once and exactly.
func TestLogRetentionRun(t *testing.T) { synctest.Test(t, testLogRetentionRun) }

func testLogRetentionRun(t *testing.T) {
	st := openPhaseBStore(t)
	sweeps := make(chan int64, 10)
	r := NewLogRetention(st.logDB, 7, LogRetentionOptions{Batch: 5, Pause: time.Second, Every: time.Hour,
		OnSweep: func(n int64, err error) {
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
			sweeps <- n
		}})
	start := time.Now()
	seedAgedLogs(t, st.logDB, start, LogConsume, 10, 8*day)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()

	// First sweep at start: two full batches, each followed by a pause.
	if n := <-sweeps; n != 10 {
		t.Fatalf("first sweep deleted %d, want 10", n)
	}
	if g, w := time.Since(start), 2*time.Second; g != w {
		t.Errorf("first sweep took %v, want %v (a pause after each full batch)", g, w)
	}
	seedAgedLogs(t, st.logDB, time.Now(), LogConsume, 3, 8*day)
	seedAgedLogs(t, st.logDB, time.Now(), LogConsume, 2, 6*day)
	if n := <-sweeps; n != 3 {
		t.Fatalf("hourly sweep deleted %d, want 3", n)
	}
	if g, w := time.Since(start), time.Hour; g != w {
		t.Errorf("second sweep at %v, want %v", g, w)
	}
	if g := countLogsOfType(t, st.logDB, LogConsume); g != 2 {
		t.Errorf("consume logs left = %d, want 2", g)
	}
}

func TestLogRetentionZeroKeepsEverything(t *testing.T) {
	st := openPhaseBStore(t)
	seedAgedLogs(t, st.logDB, time.Now(), LogConsume, 3, 1000*day)
	r := NewLogRetention(st.logDB, 0, LogRetentionOptions{})
	r.Run(context.Background()) // returns at once when disabled
	if g := countLogsOfType(t, st.logDB, LogConsume); g != 3 {
		t.Errorf("rows = %d, want 3", g)
	}
}
