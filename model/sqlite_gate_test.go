package model

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestIsRead(t *testing.T) {
	tests := []struct {
		query string
		want  bool
	}{
		{"SELECT * FROM users", true},
		{"  select count(*) from logs", true},
		{"SELECT\n*\nFROM tokens", true},
		{"(SELECT 1)", true},
		{"-- comment\nSELECT 1", true},
		{"/* hint */ SELECT 1", true},
		{"EXPLAIN QUERY PLAN SELECT 1", true},
		{"VALUES (1)", true},
		{`INSERT INTO logs (content) VALUES ("x") RETURNING id`, false},
		{"UPDATE users SET quota = quota - 1", false},
		{"DELETE FROM logs", false},
		{"WITH x AS (SELECT 1) DELETE FROM logs", false},
		{"PRAGMA wal_checkpoint(TRUNCATE)", false},
		{"PRAGMA journal_mode", true},
		{"pragma schema_version;", true},
		{"PRAGMA journal_mode = WAL", false},
		{"PRAGMA optimize", false},
		{"CREATE TABLE t (a)", false},
		{"/* unterminated SELECT", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isRead(tt.query); got != tt.want {
			t.Errorf("isRead(%q) = %v, want %v", tt.query, got, tt.want)
		}
	}
}

// TestSQLiteGate: a writer waits for its turn at most SQLITE_BUSY_TIMEOUT;
// an open transaction always holds the turn, an open read holds it only in
// rollback journal modes (as SQLite's own locks would).
func TestSQLiteGate(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		holdTx  bool // else hold an open read
		wantErr bool
	}{
		{"WAL, transaction open", nil, true, true},
		{"WAL, read open", nil, false, false},
		{"DELETE, transaction open", map[string]string{"SQLITE_JOURNAL_MODE": "DELETE"}, true, true},
		{"DELETE, read open", map[string]string{"SQLITE_JOURNAL_MODE": "DELETE"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"SQLITE_BUSY_TIMEOUT": "100"}
			for k, v := range tt.env {
				env[k] = v
			}
			s, _ := openSQLiteStore(t, filepath.Join(t.TempDir(), "one-api.db"), sqliteConfig(t, env))
			defer s.Close()
			if err := s.db.Create(&Log{Content: "seed"}).Error; err != nil {
				t.Fatal(err)
			}

			var end func() error
			if tt.holdTx {
				tx := s.db.Begin()
				if err := tx.Create(&Log{Content: "in tx"}).Error; err != nil {
					t.Fatal(err)
				}
				end = func() error { return tx.Commit().Error }
			} else {
				rows, err := s.db.Model(&Log{}).Rows()
				if err != nil {
					t.Fatal(err)
				}
				if !rows.Next() {
					t.Fatal("no rows")
				}
				end = rows.Close
			}

			err := s.db.Create(&Log{Content: "outside"}).Error
			if tt.wantErr && !errors.Is(err, errGateTimeout) {
				t.Errorf("write while held: err = %v, want errGateTimeout", err)
			}
			if !tt.wantErr && err != nil {
				t.Errorf("write while held: %v", err)
			}
			if err := end(); err != nil {
				t.Fatal(err)
			}
			if err := s.db.Create(&Log{Content: "after"}).Error; err != nil {
				t.Errorf("write after release: %v", err)
			}
		})
	}
}
