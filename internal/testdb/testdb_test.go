package testdb

import (
	"database/sql"
	"os"
	"testing"
)

// Each DSN is a database of its own: a table made in one is not seen in
// another, and the schema is gone once its test ended.
func TestDSNIsFreshAndDropped(t *testing.T) {
	Run(t, func(t *testing.T, dialect string) {
		if dialect == SQLite {
			if got := DSN(t, dialect); got != "" {
				t.Errorf("sqlite DSN = %q, want empty", got)
			}
			return
		}
		driver := map[string]string{Postgres: "pgx", MySQL: "mysql"}[dialect]
		var name string
		t.Run("use", func(t *testing.T) {
			a, b := open(t, driver, DSN(t, dialect)), open(t, driver, DSN(t, dialect))
			if _, err := a.Exec("CREATE TABLE probe (id INT)"); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Exec("SELECT id FROM probe"); err == nil {
				t.Error("a table created under one DSN is visible under another")
			}
			name = current(t, a, dialect)
		})
		base, v := os.Getenv(postgresVar), "nspname"
		q := "SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1"
		if dialect == MySQL {
			base, v = os.Getenv(mysqlVar), "schema_name"
			q = "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?"
		}
		var n int
		if err := open(t, driver, base).QueryRow(q, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 || name == "" {
			t.Errorf("%s %q still exists after its test (%d rows)", v, name, n)
		}
	})
}

func open(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// current names the schema (database) a connection works in.
func current(t *testing.T, db *sql.DB, dialect string) string {
	t.Helper()
	q := "SELECT current_schema()"
	if dialect == MySQL {
		q = "SELECT DATABASE()"
	}
	var name string
	if err := db.QueryRow(q).Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}
