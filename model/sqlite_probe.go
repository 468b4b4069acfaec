package model

// The probe-and-report half of the SQLite wrapper: reading the PRAGMAs back
// from several pooled connections, comparing them with the configuration,
// and saying so in the start-up log and GET /api/metrics/db (db_settings.go).
// sqlite.go opens and configures; this file only looks.

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"one-api/common"
)

// maxProbeConns bounds how many pooled connections are checked out at once
// to verify the per-connection PRAGMAs (start-up and /api/metrics/db).
const maxProbeConns = 8

// reportSQLite logs the settings every pooled connection runs with, and
// warns about values that differ from the configuration or between
// connections. It returns the journal mode in force.
func reportSQLite(sqlDB *sql.DB, cfg common.SQLiteConfig) (string, error) {
	if cfg.OptimizeEnabled {
		common.SysLog("applying SQLite optimizations for single-user workload")
	} else {
		common.SysLog("SQLite optimizations disabled (SQLITE_OPTIMIZE_ENABLED=false): SQLite defaults plus busy_timeout%s", explicitNote(cfg))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	probe, err := probePragmas(ctx, sqlDB, cfg)
	if err != nil {
		return "", err
	}
	for _, name := range sqlitePragmas {
		common.SysLog("SQLite PRAGMA: %s = %s", name, probe.values[name])
	}
	for _, m := range probe.mismatches {
		common.Warn("SQLite %s", m)
	}
	if w := walWarning(cfg, probe.values["journal_mode"]); w != "" {
		common.Warn("%s", w)
	}
	return probe.values["journal_mode"], nil
}

func explicitNote(cfg common.SQLiteConfig) string {
	var set []string
	if cfg.JournalModeSet {
		set = append(set, "SQLITE_JOURNAL_MODE="+cfg.JournalMode)
	}
	if cfg.SynchronousSet {
		set = append(set, "SQLITE_SYNCHRONOUS="+cfg.Synchronous)
	}
	if len(set) == 0 {
		return ""
	}
	return "; explicitly set: " + strings.Join(set, ", ")
}

// walWarning explains a WAL file the configuration did not ask for: journal
// mode is the one setting stored in the file, so it outlives the .env line
// that set it.
func walWarning(cfg common.SQLiteConfig, got string) string {
	if got != "WAL" {
		return ""
	}
	switch {
	case cfg.JournalModeSet && cfg.JournalMode != "WAL":
		return fmt.Sprintf("SQLite database is in WAL mode but SQLITE_JOURNAL_MODE=%s: could not switch (another process has the file open?); stop every user of the file and restart", cfg.JournalMode)
	case !cfg.OptimizeEnabled && !cfg.JournalModeSet:
		return "SQLite database is in WAL mode (stored in the file by an earlier run); SQLITE_OPTIMIZE_ENABLED=false leaves it so: set SQLITE_JOURNAL_MODE=DELETE to go back to rollback mode"
	}
	return ""
}

// pragmaProbe is the settings as seen on several pooled connections.
type pragmaProbe struct {
	values     map[string]string // first connection
	conns      int               // connections checked
	mismatches []string          // values differing from the configuration or between connections
}

// probePragmas checks out up to maxProbeConns connections at once (so they
// are distinct), reads every PRAGMA on each and compares. Only the first
// checkout must succeed: when traffic holds the rest, fewer are checked.
func probePragmas(ctx context.Context, sqlDB *sql.DB, cfg common.SQLiteConfig) (pragmaProbe, error) {
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < min(cfg.MaxOpenConns, maxProbeConns); i++ {
		c, err := checkout(ctx, sqlDB, i == 0)
		if err != nil {
			if i == 0 {
				return pragmaProbe{}, fmt.Errorf("read PRAGMAs: %w", err)
			}
			break
		}
		conns = append(conns, c)
	}

	want := map[string]string{}
	for _, p := range wantedPragmas(cfg) {
		want[p.name] = strings.ToUpper(p.value)
	}
	pr := pragmaProbe{conns: len(conns)}
	// One line per (PRAGMA, value) naming the connections that have it, so a
	// file stuck in WAL gives one warning, not one per connection.
	type key struct{ name, got string }
	var order []key
	where := map[key][]string{}
	for i, c := range conns {
		vals, err := readPragmas(ctx, c)
		if err != nil {
			return pragmaProbe{}, fmt.Errorf("read PRAGMAs on connection %d: %w", i+1, err)
		}
		if i == 0 {
			pr.values = vals
		}
		for _, name := range sqlitePragmas {
			ref, configured := want[name]
			if !configured {
				ref = pr.values[name]
			}
			if k := (key{name, vals[name]}); k.got != ref {
				if where[k] == nil {
					order = append(order, k)
				}
				where[k] = append(where[k], strconv.Itoa(i+1))
			}
		}
	}
	for _, k := range order {
		ref := "configured " + want[k.name]
		if _, ok := want[k.name]; !ok {
			ref = pr.values[k.name] + " on connection 1"
		}
		pr.mismatches = append(pr.mismatches, fmt.Sprintf("PRAGMA %s = %s on connection %s of %d, %s",
			k.name, k.got, strings.Join(where[k], ","), pr.conns, ref))
	}
	return pr, nil
}

// checkout takes one connection from the pool. Beyond the first, it waits at
// most a second: a busy pool means fewer connections checked, not a stall.
func checkout(ctx context.Context, sqlDB *sql.DB, first bool) (*sql.Conn, error) {
	if first {
		return sqlDB.Conn(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return sqlDB.Conn(ctx)
}

// readPragmas reads every PRAGMA on one connection, in display form.
func readPragmas(ctx context.Context, c *sql.Conn) (map[string]string, error) {
	vals := make(map[string]string, len(sqlitePragmas))
	for _, name := range sqlitePragmas {
		var raw string
		if err := c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&raw); err != nil {
			return nil, fmt.Errorf("PRAGMA %s: %w", name, err)
		}
		vals[name] = displayPragma(name, raw)
	}
	return vals, nil
}

// displayPragma maps SQLite's answer to the form the configuration uses:
// PRAGMA synchronous answers 1, the operator wrote NORMAL.
func displayPragma(name, raw string) string {
	names := map[string][]string{
		"synchronous":  {"OFF", "NORMAL", "FULL", "EXTRA"},
		"temp_store":   {"DEFAULT", "FILE", "MEMORY"},
		"foreign_keys": {"OFF", "ON"},
	}[name]
	if names == nil {
		return strings.ToUpper(raw)
	}
	if i, err := strconv.Atoi(raw); err == nil && i >= 0 && i < len(names) {
		return names[i]
	}
	return raw
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}
