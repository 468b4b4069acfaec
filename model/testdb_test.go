package model

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"one-api/common"
	"one-api/internal/testdb"
)

// forEachDialect runs fn once per dialect as a subtest, each time on a
// fresh, migrated, empty store; PostgreSQL and MySQL run when
// TEST_POSTGRES_DSN / TEST_MYSQL_DSN are set (internal/testdb).
func forEachDialect(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	testdb.Run(t, func(t *testing.T, dialect string) {
		fn(t, openDialectStore(t, dialect))
	})
}

// openDialectStore opens a fresh migrated store of dialect, or skips the
// test when that database is not configured.
func openDialectStore(t testing.TB, dialect string) *Store {
	t.Helper()
	cfg := OpenConfig{SQLDSN: testdb.DSN(t, dialect), SQLMaxOpen: 4, SQLMaxIdle: 2, SQLMaxLifetime: time.Minute}
	if dialect == testdb.SQLite {
		c, err := common.LoadConfig(func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		cfg.SQLite = c.SQLite
		cfg.SQLitePath = filepath.Join(t.TempDir(), "one-api.db")
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("open %s: %v", dialect, err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", dialect, err)
	}
	return s
}

// seedAccount creates one user and one limited token with the balances.
func seedAccount(t *testing.T, s *Store, userQuota, tokenQuota int64) (userID, tokenID int) {
	t.Helper()
	u := &User{Username: "u" + common.RandomString(6), Password: "x", Quota: userQuota, Status: UserEnabled,
		AccessToken: common.RandomString(32), AffCode: common.RandomString(8)}
	if err := s.db.Create(u).Error; err != nil {
		t.Fatal(err)
	}
	tok := &Token{UserID: u.ID, Key: common.RandomString(48), Status: TokenEnabled, Name: "t", ExpiredTime: -1, RemainQuota: tokenQuota}
	if err := s.db.Create(tok).Error; err != nil {
		t.Fatal(err)
	}
	return u.ID, tok.ID
}
