package model

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// DBReport is what GET /api/metrics/db shows: the database settings as the
// gateway's own connections see them (another process, such as the sqlite3
// CLI, sees its own per-connection defaults), the pool, and the SQLite files.
type DBReport struct {
	Dialect string        `json:"dialect"`
	Pool    PoolStats     `json:"pool"`
	LogPool *PoolStats    `json:"log_pool,omitempty"` // when LOG_SQL_DSN is set
	SQLite  *SQLiteReport `json:"sqlite,omitempty"`
}

// PoolStats is database/sql's pool state. Durations are Go-style strings, as
// in GET /api/metrics/.
type PoolStats struct {
	MaxOpen      int    `json:"max_open"`
	Open         int    `json:"open"`
	InUse        int    `json:"in_use"`
	Idle         int    `json:"idle"`
	WaitCount    int64  `json:"wait_count"`
	WaitDuration string `json:"wait_duration"`
}

// SQLiteReport is the effective SQLite set-up.
type SQLiteReport struct {
	Path            string `json:"path"`
	OptimizeEnabled bool   `json:"optimize_enabled"`
	// Pragmas are the values on the first connection checked; Consistent says
	// every checked connection has the configured values and they agree.
	Pragmas            map[string]string `json:"pragmas"`
	Configured         map[string]string `json:"configured"`
	ConnectionsChecked int               `json:"connections_checked"`
	Consistent         bool              `json:"consistent"`
	Mismatches         []string          `json:"mismatches"`
	// Locking says how the gateway queues its own connections (sqlite_gate.go).
	Locking string      `json:"locking"`
	Files   SQLiteFiles `json:"files"`
}

// SQLiteFiles are the sizes in bytes of the database and its WAL companions;
// 0 when a file does not exist (rollback mode, or after a clean stop).
type SQLiteFiles struct {
	DB  int64 `json:"db_bytes"`
	WAL int64 `json:"wal_bytes"`
	SHM int64 `json:"shm_bytes"`
}

// DBSettings reports the effective database settings. For SQLite it checks
// out several pooled connections at once and reads every PRAGMA on each; for
// PostgreSQL and MySQL it reports the pool only.
func (s *Store) DBSettings(ctx context.Context) (*DBReport, error) {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, fmt.Errorf("db settings: %w", err)
	}
	// Pool stats first: the probe below checks connections out itself.
	r := &DBReport{Dialect: s.Dialect, Pool: poolStats(sqlDB)}
	if s.logDB != s.db {
		if logDB, err := s.logDB.DB(); err == nil {
			ps := poolStats(logDB)
			r.LogPool = &ps
		}
	}
	if s.Dialect != "sqlite" || s.sqlite == nil {
		return r, nil
	}

	probe, err := probePragmas(ctx, sqlDB, *s.sqlite)
	if err != nil {
		return nil, fmt.Errorf("db settings: %w", err)
	}
	configured := map[string]string{}
	for _, p := range wantedPragmas(*s.sqlite) {
		configured[p.name] = p.value
	}
	files, err := sqliteFiles(s.SQLitePath)
	if err != nil {
		return nil, fmt.Errorf("db settings: %w", err)
	}
	r.SQLite = &SQLiteReport{
		Path:               s.SQLitePath,
		OptimizeEnabled:    s.sqlite.OptimizeEnabled,
		Pragmas:            probe.values,
		Configured:         configured,
		ConnectionsChecked: probe.conns,
		Consistent:         len(probe.mismatches) == 0,
		Mismatches:         append([]string{}, probe.mismatches...),
		Locking:            lockingNote(probe.values["journal_mode"]),
		Files:              files,
	}
	return r, nil
}

func lockingNote(journalMode string) string {
	if journalMode == "WAL" {
		return "writers queued one at a time; readers not queued (WAL)"
	}
	return "writers queued one at a time; readers queued against writers (rollback journal)"
}

func poolStats(db *sql.DB) PoolStats {
	st := db.Stats()
	return PoolStats{
		MaxOpen: st.MaxOpenConnections, Open: st.OpenConnections, InUse: st.InUse, Idle: st.Idle,
		WaitCount: st.WaitCount, WaitDuration: st.WaitDuration.String(),
	}
}

func sqliteFiles(path string) (SQLiteFiles, error) {
	var f SQLiteFiles
	for _, x := range []struct {
		path string
		size *int64
	}{{path, &f.DB}, {path + "-wal", &f.WAL}, {path + "-shm", &f.SHM}} {
		st, err := os.Stat(x.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return f, fmt.Errorf("stat %s: %w", x.path, err)
		default:
			*x.size = st.Size()
		}
	}
	return f, nil
}
