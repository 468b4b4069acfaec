package model

import (
	"context"
	"testing"
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
	st := openPhaseBStore(t)
	clk := newManualClock()
	now := clk.Now()
	seedAgedLogs(t, st.logDB, now, LogConsume, 10, 31*day)            // past retention
	seedAgedLogs(t, st.logDB, now, LogConsume, 3, 29*day)             // inside it
	seedAgedLogs(t, st.logDB, now, LogTopUp, 4, 400*day)              // audit trail, kept
	seedAgedLogs(t, st.logDB, now, LogManage, 2, 400*day)             // audit trail, kept
	seedAgedLogs(t, st.logDB, now, LogConsume, 1, 30*day+time.Second) // just past

	var deletes int64
	if err := st.logDB.Callback().Delete().Before("gorm:delete").Register("phaseb:deletes", func(*gorm.DB) { deletes++ }); err != nil {
		t.Fatal(err)
	}
	r := NewLogRetention(st.logDB, 30, WithClock(clk), WithRetentionBatch(3), WithRetentionPause(0))
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

func TestLogRetentionRun(t *testing.T) {
	st := openPhaseBStore(t)
	clk := newManualClock()
	sweeps := make(chan int64, 10)
	r := NewLogRetention(st.logDB, 7, WithClock(clk), WithRetentionBatch(5),
		WithRetentionPause(time.Second), WithRetentionEvery(time.Hour),
		WithOnSweep(func(n int64, err error) {
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
			sweeps <- n
		}))
	seedAgedLogs(t, st.logDB, clk.Now(), LogConsume, 10, 8*day)

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
	for range 2 {
		clk.BlockUntil(2) // ticker + pause timer
		clk.Advance(time.Second)
	}
	if n := <-sweeps; n != 10 {
		t.Fatalf("first sweep deleted %d, want 10", n)
	}
	seedAgedLogs(t, st.logDB, clk.Now(), LogConsume, 3, 8*day)
	seedAgedLogs(t, st.logDB, clk.Now(), LogConsume, 2, 6*day)
	clk.Advance(time.Hour)
	if n := <-sweeps; n != 3 {
		t.Fatalf("hourly sweep deleted %d, want 3", n)
	}
	if g := countLogsOfType(t, st.logDB, LogConsume); g != 2 {
		t.Errorf("consume logs left = %d, want 2", g)
	}
}

func TestLogRetentionZeroKeepsEverything(t *testing.T) {
	st := openPhaseBStore(t)
	clk := newManualClock()
	seedAgedLogs(t, st.logDB, clk.Now(), LogConsume, 3, 1000*day)
	r := NewLogRetention(st.logDB, 0, WithClock(clk))
	r.Run(context.Background()) // returns at once when disabled
	if g := countLogsOfType(t, st.logDB, LogConsume); g != 3 {
		t.Errorf("rows = %d, want 3", g)
	}
}
