package model

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"one-api/common"
	"one-api/internal/testdb"
)

// pgSchemaDSN is the DSN of a fresh PostgreSQL schema of the test's own, or
// skips without TEST_POSTGRES_DSN.
func pgSchemaDSN(t *testing.T) string { return testdb.DSN(t, testdb.Postgres) }

// LOG_SQL_DSN puts the logs table, and every log read and write, in a
// database of its own: under SQLite or under another PostgreSQL database.
func TestLogSQLDSNKeepsLogsApart(t *testing.T) {
	sqliteCfg, err := common.LoadConfig(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, main := range []string{"sqlite", "postgres"} {
		t.Run(main, func(t *testing.T) {
			cfg := OpenConfig{LogSQLDSN: pgSchemaDSN(t), SQLMaxOpen: 4, SQLMaxIdle: 2, SQLMaxLifetime: time.Minute}
			if main == "sqlite" {
				cfg.SQLite = sqliteCfg.SQLite
				cfg.SQLitePath = filepath.Join(t.TempDir(), "one-api.db")
			} else {
				cfg.SQLDSN = pgSchemaDSN(t)
			}
			s, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if s.db.Migrator().HasTable(&Log{}) {
				t.Error("the main database has a logs table")
			}
			if !s.logDB.Migrator().HasTable(&Log{}) || s.logDB.Migrator().HasTable(&User{}) {
				t.Error("the log database should hold logs and only logs")
			}

			now := time.Now().Unix()
			if err := NewDirectLogSink(s.logDB).Record(ctx, &Log{UserID: 1, Type: LogConsume, CreatedAt: now, Quota: 5}); err != nil {
				t.Fatal(err)
			}
			b := NewLogBatcher(s.logDB, common.LogBatchConfig{Enabled: true, Size: 10, FlushInterval: time.Hour}, LogBatcherOptions{})
			b.Start()
			for range 3 {
				if err := b.Record(ctx, &Log{UserID: 1, Type: LogConsume, CreatedAt: now - 40*86400, Quota: 7}); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Close(ctx); err != nil {
				t.Fatal(err)
			}
			sum, err := s.SumLogQuota(ctx, LogFilter{UserID: 1})
			if err != nil || sum != 26 {
				t.Errorf("sum of logged quota = %d (%v), want 26", sum, err)
			}
			n, err := NewLogRetention(s.logDB, 30, LogRetentionOptions{}).Sweep(ctx)
			if err != nil || n != 3 {
				t.Errorf("retention deleted %d (%v), want the 3 old rows", n, err)
			}
		})
	}
}
