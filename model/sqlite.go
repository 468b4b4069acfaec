package model

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"

	"one-api/common"
)

// sqlitePragmas are the settings we apply, read back, log and report, in the
// order the spec lists them.
var sqlitePragmas = []string{
	"journal_mode", "synchronous", "cache_size", "mmap_size",
	"temp_store", "busy_timeout", "wal_autocheckpoint", "foreign_keys",
}

// pragma is one setting in display form: the value as the operator writes it
// and as the log shows it (WAL, NORMAL, MEMORY, OFF, -64000).
type pragma struct{ name, value string }

// wantedPragmas lists what the configuration asks for. With optimizations off
// it is SQLite's defaults plus busy_timeout, as one-api ran, except that
// explicitly set journal mode and synchronous still apply (patchset.md, so
// that SQLITE_JOURNAL_MODE=DELETE can take a WAL file back to rollback mode).
func wantedPragmas(cfg common.SQLiteConfig) []pragma {
	if !cfg.OptimizeEnabled {
		// mattn/go-sqlite3 sets synchronous=NORMAL on every connection unless
		// told otherwise; SQLite's own default is FULL, so say so explicitly.
		sync := "FULL"
		if cfg.SynchronousSet {
			sync = cfg.Synchronous
		}
		p := []pragma{{"synchronous", sync}, {"busy_timeout", strconv.Itoa(cfg.BusyTimeout)}}
		if cfg.JournalModeSet {
			p = append([]pragma{{"journal_mode", cfg.JournalMode}}, p...)
		}
		return p
	}
	return []pragma{
		{"journal_mode", cfg.JournalMode},
		{"synchronous", cfg.Synchronous},
		{"cache_size", strconv.Itoa(cfg.CacheSize)},
		{"mmap_size", strconv.FormatInt(cfg.MmapSize, 10)},
		{"temp_store", cfg.TempStore},
		{"busy_timeout", strconv.Itoa(cfg.BusyTimeout)},
		{"wal_autocheckpoint", strconv.Itoa(cfg.WALAutoCheckpoint)},
		{"foreign_keys", onOff(cfg.ForeignKeys)},
	}
}

// sqliteDSN carries what mattn/go-sqlite3 applies itself on every new
// connection: busy_timeout (set before anything else, so the remaining
// PRAGMAs already wait on a lock instead of failing), synchronous (which the
// driver would otherwise force to NORMAL) and BEGIN IMMEDIATE for
// transactions (see docs/sqlite.md, "Locking").
func sqliteDSN(path string, want []pragma) string {
	q := url.Values{"_txlock": {"immediate"}}
	for _, p := range want {
		switch p.name {
		case "busy_timeout":
			q.Set("_busy_timeout", p.value)
		case "synchronous":
			q.Set("_synchronous", p.value)
		}
	}
	return path + "?" + q.Encode()
}

// connectHook runs the PRAGMAs that have no DSN parameter on each new pooled
// connection. A failed journal_mode switch (another process holds the file
// open in WAL mode) does not fail the connection: the read-back after open
// reports it with a [WARN].
func connectHook(want []pragma) func(*sqlite3.SQLiteConn) error {
	var stmts []string
	for _, p := range want {
		if p.name != "busy_timeout" && p.name != "synchronous" {
			stmts = append(stmts, fmt.Sprintf("PRAGMA %s = %s", p.name, p.value))
		}
	}
	return func(c *sqlite3.SQLiteConn) error {
		for _, s := range stmts {
			_, err := c.Exec(s, nil)
			if err != nil && !strings.HasPrefix(s, "PRAGMA journal_mode") {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	}
}

// sqliteConnector opens connections through a driver value of our own, so
// the connect hook needs no process-wide sql.Register (which panics on a
// duplicate name and would leak one registration per configuration), and
// puts every connection behind the gate.
type sqliteConnector struct {
	drv  *sqlite3.SQLiteDriver
	dsn  string
	gate *sqliteGate
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*sqlite3.SQLiteConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("sqlite: unexpected connection type %T", conn)
	}
	return &gatedConn{c: sc, gate: c.gate}, nil
}

func (c sqliteConnector) Driver() driver.Driver { return c.drv }

// openSQLite opens the SQLite file with every pooled connection set up alike,
// then reads the settings back and logs them (sqlite_probe.go).
func openSQLite(path string, cfg common.SQLiteConfig, gcfg *gorm.Config) (*gorm.DB, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open sqlite: SQLITE_PATH %q must be a plain file path", path)
	}
	want := wantedPragmas(cfg)
	gate := newSQLiteGate(cfg.MaxOpenConns, time.Duration(cfg.BusyTimeout)*time.Millisecond)
	sqlDB := sql.OpenDB(sqliteConnector{
		drv:  &sqlite3.SQLiteDriver{ConnectHook: connectHook(want)},
		dsn:  sqliteDSN(path, want),
		gate: gate,
	})
	sqlDB.SetMaxOpenConns(cfg.MaxOpenConns)
	sqlDB.SetMaxIdleConns(cfg.MaxIdleConns)
	db, err := gorm.Open(sqlite.New(sqlite.Config{Conn: sqlDB}), gcfg)
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}

	journal, err := reportSQLite(sqlDB, cfg)
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// Readers queue against writers only where a commit excludes them.
	gate.readers.Store(journal != "WAL")
	return db, nil
}

// errCheckpointBusy means readers kept the WAL from being truncated.
var errCheckpointBusy = errors.New("wal checkpoint incomplete: database busy")

// checkpointSQLite folds the WAL back into the database file and truncates
// it on a clean stop, so the -wal file is empty and the .db alone is a
// complete copy. In rollback journal modes it does nothing.
func checkpointSQLite(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("wal checkpoint: %w", err)
	}
	ctx := context.Background()
	c, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("wal checkpoint: %w", err)
	}
	defer c.Close()
	// A connection opened while the file was still empty (the start-up probe
	// on a new database) and idle since has not opened the WAL; checkpointing
	// on it waits out busy_timeout on its own read lock and gives up. One
	// read of the header brings it up to date.
	var version, busy, logPages, done int
	if err := c.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&version); err != nil {
		return fmt.Errorf("wal checkpoint: %w", err)
	}
	if err := c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done); err != nil {
		return fmt.Errorf("wal checkpoint: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("%w (%d of %d pages checkpointed)", errCheckpointBusy, done, logPages)
	}
	return nil
}
