package ledger

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/gorm"

	"one-api/common"
	"one-api/internal/logtest"
	"one-api/internal/testdb"
	"one-api/model"
)

// openPhaseBStore opens a fresh migrated SQLite database in a temp dir, set
// up as production runs it.
func openPhaseBStore(t testing.TB) *model.Store {
	t.Helper()
	st, err := model.Open(model.OpenConfig{SQLitePath: filepath.Join(t.TempDir(), "ledger.db"), SQLite: common.SQLiteConfig{
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

// forEachDialect runs fn once per dialect as a subtest, each time on a
// fresh, migrated, empty store; PostgreSQL and MySQL run when
// TEST_POSTGRES_DSN / TEST_MYSQL_DSN are set (internal/testdb).
func forEachDialect(t *testing.T, fn func(t *testing.T, s *model.Store)) {
	t.Helper()
	testdb.Run(t, func(t *testing.T, dialect string) {
		if dialect == testdb.SQLite {
			fn(t, openPhaseBStore(t))
			return
		}
		s, err := model.Open(model.OpenConfig{SQLDSN: testdb.DSN(t, dialect), SQLMaxOpen: 4, SQLMaxIdle: 2, SQLMaxLifetime: time.Minute})
		if err != nil {
			t.Fatalf("open %s: %v", dialect, err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatalf("migrate %s: %v", dialect, err)
		}
		fn(t, s)
	})
}

// seedUserTokens creates a user with the given token keys (remain_quota
// 1000 each) and returns its id and the tokens' ids.
func seedUserTokens(t testing.TB, db *gorm.DB, name string, quota int64, keys ...string) (int, []int) {
	t.Helper()
	u := &model.User{Username: name, Password: "x", Status: model.UserEnabled, Role: model.RoleCommon, Quota: quota,
		Group: "default", AccessToken: name, AffCode: name}
	if err := db.Create(u).Error; err != nil {
		t.Fatalf("create user: %v", err)
	}
	var ids []int
	for _, k := range keys {
		tok := &model.Token{UserID: u.ID, Key: k, Status: model.TokenEnabled, Name: k, ExpiredTime: -1, RemainQuota: 1000}
		if err := db.Create(tok).Error; err != nil {
			t.Fatalf("create token: %v", err)
		}
		ids = append(ids, tok.ID)
	}
	return u.ID, ids
}

// openRichStore is a fresh store with one user and one token whose
// balances never run out, for benchmarks.
func openRichStore(b *testing.B) (*model.Store, int, []int) {
	b.Helper()
	st := openPhaseBStore(b)
	uid, tids := seedUserTokens(b, st.Gorm(), "alice", 1<<50, "k")
	if err := st.Gorm().Model(&model.Token{}).Where("id = ?", tids[0]).Update("remain_quota", int64(1)<<50).Error; err != nil {
		b.Fatal(err)
	}
	return st, uid, tids
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
