package model

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"one-api/common"
)

// The store tests run against every dialect the gateway supports: SQLite
// always, PostgreSQL and MySQL/MariaDB when these variables hold a DSN of a
// database the tests may create schemas (databases) in. .ci/run sets them.
const (
	postgresDSNVar = "TEST_POSTGRES_DSN" // postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	mysqlDSNVar    = "TEST_MYSQL_DSN"    // root@tcp(127.0.0.1:3306)/test?charset=utf8mb4&parseTime=True&loc=Local
)

// forEachDialect runs fn once per dialect as a subtest, each time on a
// fresh, migrated, empty store.
func forEachDialect(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	for _, dialect := range []string{"sqlite", "postgres", "mysql"} {
		t.Run(dialect, func(t *testing.T) {
			fn(t, openDialectStore(t, dialect))
		})
	}
}

// openDialectStore opens a fresh migrated store of dialect, or skips the
// test when that database is not configured. PostgreSQL gets a schema of
// its own and MySQL a database of its own, dropped when the test ends.
func openDialectStore(t *testing.T, dialect string) *Store {
	t.Helper()
	ctx := context.Background()
	name := "oneapi_t_" + strings.ToLower(common.RandomString(10))
	var cfg OpenConfig
	cfg.SQLMaxOpen, cfg.SQLMaxIdle, cfg.SQLMaxLifetime = 4, 2, time.Minute
	switch dialect {
	case "sqlite":
		c, err := common.LoadConfig(func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		cfg.SQLite = c.SQLite
		cfg.SQLitePath = filepath.Join(t.TempDir(), "one-api.db")
	case "postgres":
		base := os.Getenv(postgresDSNVar)
		if base == "" {
			t.Skip(postgresDSNVar + " not set")
		}
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("%s: %v", postgresDSNVar, err)
		}
		q := u.Query()
		q.Set("search_path", name)
		u.RawQuery = q.Encode()
		cfg.SQLDSN = u.String()
		withAdmin(t, base, "CREATE SCHEMA "+name, "DROP SCHEMA "+name+" CASCADE")
	case "mysql":
		base := os.Getenv(mysqlDSNVar)
		if base == "" {
			t.Skip(mysqlDSNVar + " not set")
		}
		mc, err := mysql.ParseDSN(base)
		if err != nil {
			t.Fatalf("%s: %v", mysqlDSNVar, err)
		}
		mc.DBName = name
		cfg.SQLDSN = mc.FormatDSN()
		withAdmin(t, base, "CREATE DATABASE "+name, "DROP DATABASE "+name)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("open %s: %v", dialect, err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", dialect, err)
	}
	return s
}

// withAdmin runs create on the base database now and drop at cleanup
// (registered first, so it runs after the test's store is closed).
func withAdmin(t *testing.T, dsn, create, drop string) {
	t.Helper()
	admin, err := Open(OpenConfig{SQLDSN: dsn, SQLMaxOpen: 1, SQLMaxIdle: 1, SQLMaxLifetime: time.Minute})
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	if err := admin.DB.Exec(create).Error; err != nil {
		admin.Close()
		t.Fatalf("%s: %v", create, err)
	}
	t.Cleanup(func() {
		if err := admin.DB.Exec(drop).Error; err != nil {
			t.Errorf("%s: %v", drop, err)
		}
		admin.Close()
	})
}
