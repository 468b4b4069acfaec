// Package testdb gives tests a fresh, empty database of each dialect the
// gateway supports (issue 9): SQLite always, PostgreSQL and MySQL/MariaDB
// when TEST_POSTGRES_DSN / TEST_MYSQL_DSN name a server the tests may create
// schemas (databases) on. .ci/run sets both.
//
// It hands out DSNs rather than stores so that package model's own tests
// can use it without an import cycle.
package testdb

import (
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the admin connection

	"one-api/common"
)

// The dialect names, as common.DialectOf and model.Store.Dialect spell them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
	MySQL    = "mysql"
)

// The variables holding the server DSNs, for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable and
// root@tcp(127.0.0.1:3306)/test?charset=utf8mb4&parseTime=True&loc=Local.
const (
	postgresVar = "TEST_POSTGRES_DSN"
	mysqlVar    = "TEST_MYSQL_DSN"
)

// all is every dialect, in the order Run runs them.
var all = []string{SQLite, Postgres, MySQL}

// Run runs fn as one subtest per dialect, named after it. A server dialect
// whose variable is unset shows up as a skipped subtest saying so.
func Run(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range all {
		t.Run(d, func(t *testing.T) {
			skipUnset(t, d)
			fn(t, d)
		})
	}
}

// DSN returns the DSN of a fresh, empty database of dialect, dropped when
// the test ends: a PostgreSQL schema of its own (through search_path) or a
// MySQL database of its own. For SQLite it returns "", which Open reads as
// "use SQLitePath". It skips the test when the server is not configured.
//
// Call it before opening the store: cleanups run last-in first-out, so
// the store is closed before its database is dropped.
func DSN(t testing.TB, dialect string) string {
	t.Helper()
	skipUnset(t, dialect)
	if dialect == SQLite {
		return ""
	}
	name := "oneapi_t_" + strings.ToLower(common.RandomString(10))
	switch dialect {
	case Postgres:
		base := os.Getenv(postgresVar)
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("%s: %v", postgresVar, err)
		}
		q := u.Query()
		q.Set("search_path", name)
		u.RawQuery = q.Encode()
		admin(t, "pgx", base, "CREATE SCHEMA "+name, "DROP SCHEMA "+name+" CASCADE")
		return u.String()
	case MySQL:
		base := os.Getenv(mysqlVar)
		mc, err := mysql.ParseDSN(base)
		if err != nil {
			t.Fatalf("%s: %v", mysqlVar, err)
		}
		mc.DBName = name
		admin(t, "mysql", base, "CREATE DATABASE "+name, "DROP DATABASE "+name)
		return mc.FormatDSN()
	}
	t.Fatalf("testdb: unknown dialect %q", dialect)
	return ""
}

func skipUnset(t testing.TB, dialect string) {
	t.Helper()
	v := map[string]string{Postgres: postgresVar, MySQL: mysqlVar}[dialect]
	if v != "" && os.Getenv(v) == "" {
		t.Skipf("%s not set: %s tests skipped", v, dialect)
	}
}

// admin runs create on the base database now and drop at cleanup.
func admin(t testing.TB, driver, dsn, create, drop string) {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("testdb: open %s: %v", driver, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(create); err != nil {
		db.Close()
		t.Fatalf("testdb: %s: %v", create, err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(drop); err != nil {
			t.Errorf("testdb: %s: %v", drop, err)
		}
		db.Close()
	})
}

// redisURL is TEST_REDIS_URL (redis.go); the environment is read in this
// file only.
func redisURL() string { return os.Getenv(RedisURLVar) }
