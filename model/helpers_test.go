package model

import (
	"context"
	"one-api/internal/logtest"
	"path/filepath"
	"testing"

	"one-api/common"
	"one-api/internal/testdb"
)

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
