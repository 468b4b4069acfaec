package model

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

type widget struct {
	ID   int
	Name string
}

func openTestDB(t *testing.T) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "test.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	if err := db.AutoMigrate(&widget{}); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestStatementTimerTimesEveryStatementKind(t *testing.T) {
	db := openTestDB(t)
	var (
		mu  sync.Mutex
		ops []string
		bad []time.Duration
	)
	if err := db.Use(StatementTimer(func(op string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		ops = append(ops, op)
		if d <= 0 {
			bad = append(bad, d)
		}
	})); err != nil {
		t.Fatal(err)
	}
	var counter StatementCounter
	if err := db.Use(&counter); err != nil {
		t.Fatal(err)
	}

	w := widget{Name: "a"}
	steps := []struct {
		op  string
		run func() error
	}{
		{"create", func() error { return db.Create(&w).Error }},
		{"query", func() error { return db.First(&widget{}, w.ID).Error }},
		{"update", func() error { return db.Model(&w).Update("name", "b").Error }},
		{"row", func() error { return db.Model(&widget{}).Select("count(*)").Row().Err() }},
		{"raw", func() error { return db.Exec("UPDATE widgets SET name = ?", "c").Error }},
		{"delete", func() error { return db.Delete(&w).Error }},
	}
	var want []string
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.op, err)
		}
		want = append(want, s.op)
	}

	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(ops, want) {
		t.Errorf("recorded ops %v, want %v", ops, want)
	}
	if len(bad) > 0 {
		t.Errorf("non-positive durations recorded: %v", bad)
	}
	if g, w := counter.Count(), int64(len(want)); g != w {
		t.Errorf("StatementCounter = %d, want %d", g, w)
	}
}

func TestStatementCounterReset(t *testing.T) {
	db := openTestDB(t)
	var counter StatementCounter
	if err := db.Use(&counter); err != nil {
		t.Fatal(err)
	}
	db.Create(&widget{Name: "x"})
	counter.Reset()
	if g := counter.Count(); g != 0 {
		t.Fatalf("after Reset = %d, want 0", g)
	}
	var got []widget
	if err := db.Find(&got).Error; err != nil {
		t.Fatal(err)
	}
	if g := counter.Count(); g != 1 {
		t.Errorf("after one Find = %d, want 1", g)
	}
}
