package model

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"one-api/common"
)

// sqliteConfig parses env through the real configuration loader, so the
// tests see the same defaults and normalisation as the gateway.
func sqliteConfig(t testing.TB, env map[string]string) common.SQLiteConfig {
	t.Helper()
	cfg, err := common.LoadConfig(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("LoadConfig(%v): %v", env, err)
	}
	return cfg.SQLite
}

// openSQLiteStore opens and migrates a store on path and returns it with
// what Open logged; the caller closes it.
func openSQLiteStore(t testing.TB, path string, cfg common.SQLiteConfig) (*Store, string) {
	t.Helper()
	var buf bytes.Buffer
	restore := common.SetLogOutput(&buf)
	s, err := Open(OpenConfig{SQLitePath: path, SQLite: cfg})
	restore()
	if err != nil {
		t.Fatalf("Open(%s): %v\n%s", path, err, buf.String())
	}
	if err := s.Migrate(context.Background()); err != nil {
		s.Close()
		t.Fatalf("Migrate: %v", err)
	}
	return s, buf.String()
}

func sqlDBOf(t testing.TB, s *Store) *sql.DB {
	t.Helper()
	db, err := s.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// rawPragmas reads every PRAGMA as SQLite answers it (wal, 1, 2), on n
// connections held at once so that each is a distinct pooled connection.
func rawPragmas(t *testing.T, s *Store, n int) []map[string]string {
	t.Helper()
	ctx := context.Background()
	db := sqlDBOf(t, s)
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatalf("checkout: %v", err)
		}
		conns = append(conns, c)
	}
	var out []map[string]string
	for _, c := range conns {
		m := map[string]string{}
		for _, name := range sqlitePragmas {
			var v string
			if err := c.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
				t.Fatalf("PRAGMA %s: %v", name, err)
			}
			m[name] = v
		}
		out = append(out, m)
	}
	return out
}

// journalHeader reads the file format bytes 18-19 of the database header:
// 2 means WAL, 1 rollback (https://www.sqlite.org/fileformat.html#file_format_version_numbers).
func journalHeader(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 20 {
		t.Fatalf("%s: %d bytes, no header", path, len(b))
	}
	if b[18] == 2 && b[19] == 2 {
		return "wal"
	}
	return "rollback"
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestSQLitePragmasOnEveryConnection(t *testing.T) {
	const conns = 4
	tests := []struct {
		name string
		env  map[string]string
		want map[string]string // as SQLite answers PRAGMA x
	}{
		{
			name: "defaults",
			env:  map[string]string{},
			want: map[string]string{"journal_mode": "wal", "synchronous": "1", "cache_size": "-64000", "mmap_size": "268435456",
				"temp_store": "2", "busy_timeout": "5000", "wal_autocheckpoint": "1000", "foreign_keys": "0"},
		},
		{
			name: "custom",
			env: map[string]string{"SQLITE_JOURNAL_MODE": "TRUNCATE", "SQLITE_SYNCHRONOUS": "3", "SQLITE_CACHE_SIZE": "500",
				"SQLITE_MMAP_SIZE": "1048576", "SQLITE_TEMP_STORE": "FILE", "SQLITE_BUSY_TIMEOUT": "1234",
				"SQLITE_WAL_AUTO_CHECKPOINT": "200", "SQLITE_FOREIGN_KEYS": "true"},
			want: map[string]string{"journal_mode": "truncate", "synchronous": "3", "cache_size": "500", "mmap_size": "1048576",
				"temp_store": "1", "busy_timeout": "1234", "wal_autocheckpoint": "200", "foreign_keys": "1"},
		},
		{
			name: "optimize off",
			env:  map[string]string{"SQLITE_OPTIMIZE_ENABLED": "false", "SQLITE_BUSY_TIMEOUT": "3000", "SQLITE_CACHE_SIZE": "-128000"},
			want: map[string]string{"journal_mode": "delete", "synchronous": "2", "cache_size": "-2000", "mmap_size": "0",
				"temp_store": "0", "busy_timeout": "3000", "wal_autocheckpoint": "1000", "foreign_keys": "0"},
		},
		{
			name: "optimize off, journal and synchronous set",
			env:  map[string]string{"SQLITE_OPTIMIZE_ENABLED": "false", "SQLITE_JOURNAL_MODE": "WAL", "SQLITE_SYNCHRONOUS": "OFF"},
			want: map[string]string{"journal_mode": "wal", "synchronous": "0", "cache_size": "-2000", "mmap_size": "0",
				"temp_store": "0", "busy_timeout": "5000", "wal_autocheckpoint": "1000", "foreign_keys": "0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"SQLITE_MAX_OPEN_CONNS": strconv.Itoa(conns)}
			for k, v := range tt.env {
				env[k] = v
			}
			s, _ := openSQLiteStore(t, filepath.Join(t.TempDir(), "one-api.db"), sqliteConfig(t, env))
			defer s.Close()
			for i, got := range rawPragmas(t, s, conns) {
				for _, name := range sqlitePragmas {
					if g, w := got[name], tt.want[name]; g != w {
						t.Errorf("connection %d: PRAGMA %s = %s, want %s", i+1, name, g, w)
					}
				}
			}
		})
	}
}

func TestSQLiteStartupLog(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    []string
		notWant []string
	}{
		{
			name: "defaults",
			want: []string{
				"applying SQLite optimizations for single-user workload",
				"SQLite PRAGMA: journal_mode = WAL", "SQLite PRAGMA: synchronous = NORMAL",
				"SQLite PRAGMA: cache_size = -64000", "SQLite PRAGMA: mmap_size = 268435456",
				"SQLite PRAGMA: temp_store = MEMORY", "SQLite PRAGMA: busy_timeout = 5000",
				"SQLite PRAGMA: wal_autocheckpoint = 1000", "SQLite PRAGMA: foreign_keys = OFF",
			},
			notWant: []string{"optimizations disabled"},
		},
		{
			name: "optimize off",
			env:  map[string]string{"SQLITE_OPTIMIZE_ENABLED": "false"},
			want: []string{
				"SQLite optimizations disabled (SQLITE_OPTIMIZE_ENABLED=false): SQLite defaults plus busy_timeout",
				"SQLite PRAGMA: journal_mode = DELETE", "SQLite PRAGMA: synchronous = FULL", "SQLite PRAGMA: busy_timeout = 5000",
			},
			notWant: []string{"applying SQLite optimizations"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, log := openSQLiteStore(t, filepath.Join(t.TempDir(), "one-api.db"), sqliteConfig(t, tt.env))
			s.Close()
			for _, w := range tt.want {
				if !containsLine(log, "[SYS] ", w) {
					t.Errorf("log lacks a [SYS] line with %q:\n%s", w, log)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(log, nw) {
					t.Errorf("log has %q:\n%s", nw, log)
				}
			}
			if containsLine(log, "[WARN] ", "SQLite") {
				t.Errorf("unexpected SQLite warning:\n%s", log)
			}
		})
	}
}

// containsLine reports whether a line starting with prefix contains s.
func containsLine(log, prefix, s string) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// TestSQLiteLeavingWAL: journal_mode is stored in the file, so going back to
// rollback mode takes an explicit SQLITE_JOURNAL_MODE, with or without the
// optimizations; without it a WAL file stays WAL and the log says why.
func TestSQLiteLeavingWAL(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		wantHeader string
		wantWarn   string
	}{
		{"journal DELETE", map[string]string{"SQLITE_JOURNAL_MODE": "DELETE"}, "rollback", ""},
		{"optimize off, journal DELETE", map[string]string{"SQLITE_OPTIMIZE_ENABLED": "false", "SQLITE_JOURNAL_MODE": "DELETE"}, "rollback", ""},
		{"optimize off alone", map[string]string{"SQLITE_OPTIMIZE_ENABLED": "false"}, "wal", "set SQLITE_JOURNAL_MODE=DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "one-api.db")
			s, _ := openSQLiteStore(t, path, sqliteConfig(t, nil))
			if err := s.db.Create(&User{Username: "u", AccessToken: "a", AffCode: "c"}).Error; err != nil {
				t.Fatal(err)
			}
			s.Close()
			if g := journalHeader(t, path); g != "wal" {
				t.Fatalf("after a default run the file is %s, want wal", g)
			}

			s, log := openSQLiteStore(t, path, sqliteConfig(t, tt.env))
			var n int64
			if err := s.db.Model(&User{}).Count(&n).Error; err != nil || n != 1 {
				t.Errorf("count users = %d, %v; want 1", n, err)
			}
			s.Close()
			if g := journalHeader(t, path); g != tt.wantHeader {
				t.Errorf("file is %s, want %s", g, tt.wantHeader)
			}
			warned := containsLine(log, "[WARN] ", "WAL mode")
			if tt.wantWarn == "" && warned || tt.wantWarn != "" && !containsLine(log, "[WARN] ", tt.wantWarn) {
				t.Errorf("want warning %q, log:\n%s", tt.wantWarn, log)
			}
		})
	}
}

// TestSQLiteOpensAfterManualRollback is the spec's rollback drill: an
// operator switches a stopped gateway's file back with the sqlite3 CLI.
func TestSQLiteOpensAfterManualRollback(t *testing.T) {
	cli, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("sqlite3 CLI not installed; the manual rollback drill needs it")
	}
	for _, env := range []map[string]string{nil, {"SQLITE_OPTIMIZE_ENABLED": "false"}} {
		t.Run(fmt.Sprint(env), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "one-api.db")
			s, _ := openSQLiteStore(t, path, sqliteConfig(t, nil))
			if err := s.db.Create(&User{Username: "u", AccessToken: "a", AffCode: "c", Quota: 42}).Error; err != nil {
				t.Fatal(err)
			}
			s.Close()
			out, err := exec.Command(cli, path, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;").CombinedOutput()
			if err != nil {
				t.Fatalf("sqlite3: %v: %s", err, out)
			}
			if g := journalHeader(t, path); g != "rollback" {
				t.Fatalf("after sqlite3 the file is %s, want rollback", g)
			}

			s, _ = openSQLiteStore(t, path, sqliteConfig(t, env))
			defer s.Close()
			var u User
			if err := s.db.First(&u, "username = ?", "u").Error; err != nil || u.Quota != 42 {
				t.Errorf("user after reopen = %+v, %v; want quota 42", u, err)
			}
			if err := s.db.Model(&User{}).Where("id = ?", u.ID).Update("quota", 41).Error; err != nil {
				t.Errorf("write after reopen: %v", err)
			}
		})
	}
}

func TestSQLiteCheckpointTruncatesWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "one-api.db")
	// Four pooled connections, all kept: the start-up probe opens them while
	// the file is still empty, and cycling them below puts one of those idle
	// ones first in line for the checkpoint.
	s, _ := openSQLiteStore(t, path, sqliteConfig(t, map[string]string{"SQLITE_MAX_OPEN_CONNS": "4", "SQLITE_MAX_IDLE_CONNS": "4"}))
	logs := make([]Log, 500)
	for i := range logs {
		logs[i] = Log{Type: LogConsume, Content: strings.Repeat("x", 200)}
	}
	if err := s.db.CreateInBatches(logs, 100).Error; err != nil {
		t.Fatal(err)
	}
	if fileSize(t, path+"-wal") == 0 {
		t.Fatal("no WAL bytes after writes; the test would prove nothing")
	}
	rawPragmas(t, s, 4)
	if err := checkpointSQLite(s.db); err != nil {
		t.Fatalf("checkpointSQLite: %v", err)
	}
	if n := fileSize(t, path+"-wal"); n != 0 {
		t.Errorf("after checkpoint the WAL has %d bytes, want 0", n)
	}
	if err := s.db.Create(&Log{Type: LogConsume}).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := fileSize(t, path+"-wal"); n != 0 {
		t.Errorf("after Close the WAL has %d bytes, want 0", n)
	}
}

func TestSQLiteDBSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "one-api.db")
	s, _ := openSQLiteStore(t, path, sqliteConfig(t, map[string]string{"SQLITE_MAX_OPEN_CONNS": "4", "SQLITE_MAX_IDLE_CONNS": "4"}))
	defer s.Close()
	ctx := context.Background()
	if err := s.db.Create(&Log{Type: LogConsume}).Error; err != nil {
		t.Fatal(err)
	}

	r, err := s.DBSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Dialect != "sqlite" || r.SQLite == nil {
		t.Fatalf("report = %+v, want a sqlite section", r)
	}
	if g, w := r.Pool.MaxOpen, 4; g != w {
		t.Errorf("pool max_open = %d, want %d", g, w)
	}
	sq := r.SQLite
	if g, w := sq.ConnectionsChecked, 4; g != w {
		t.Errorf("connections_checked = %d, want %d", g, w)
	}
	if !sq.Consistent || len(sq.Mismatches) != 0 {
		t.Errorf("consistent = %v, mismatches %v; want consistent", sq.Consistent, sq.Mismatches)
	}
	for name, w := range map[string]string{"journal_mode": "WAL", "synchronous": "NORMAL", "cache_size": "-64000", "temp_store": "MEMORY"} {
		if g := sq.Pragmas[name]; g != w {
			t.Errorf("pragmas[%s] = %q, want %q", name, g, w)
		}
	}
	if sq.Files.DB == 0 || sq.Files.WAL == 0 || sq.Files.SHM == 0 {
		t.Errorf("files = %+v, want all three non-empty in WAL mode", sq.Files)
	}

	// A connection that drifted (here: changed by hand) must be flagged.
	c, err := sqlDBOf(t, s).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(ctx, "PRAGMA cache_size = 10"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	r, err = s.DBSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.SQLite.Consistent || len(r.SQLite.Mismatches) != 1 || !strings.Contains(r.SQLite.Mismatches[0], "cache_size = 10") {
		t.Errorf("after drifting one connection: consistent = %v, mismatches %q; want one cache_size mismatch", r.SQLite.Consistent, r.SQLite.Mismatches)
	}
}
