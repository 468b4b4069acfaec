package testdb

import (
	"errors"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"
)

// CountStatements counts every SQL statement gorm sends on db from now on.
func CountStatements(t testing.TB, db *gorm.DB) *atomic.Int64 {
	t.Helper()
	n := new(atomic.Int64)
	OnEveryStatement(t, db, "testdb:count", func(*gorm.DB) { n.Add(1) })
	return n
}

// OnEveryStatement runs fn before every SQL statement gorm sends on db from
// now on (queries, creates, updates, deletes, Row and Raw/Exec), under the
// callback name given: a test counts statements or fails them with it.
func OnEveryStatement(t testing.TB, db *gorm.DB, name string, fn func(*gorm.DB)) {
	t.Helper()
	cb := db.Callback()
	for _, err := range []error{
		cb.Query().Before("gorm:query").Register(name, fn),
		cb.Create().Before("gorm:create").Register(name, fn),
		cb.Update().Before("gorm:update").Register(name, fn),
		cb.Delete().Before("gorm:delete").Register(name, fn),
		cb.Row().Before("gorm:row").Register(name, fn),
		cb.Raw().Before("gorm:raw").Register(name, fn),
	} {
		if err != nil {
			t.Fatalf("register callback %s: %v", name, err)
		}
	}
}

// ErrInjected is the error FailStatements injects.
var ErrInjected = errors.New("injected failure")

// FailStatements makes the next n statements of kind ("create", "update")
// on table fail with ErrInjected; the counter it returns is the failures
// left to inject, and a test may raise it again.
func FailStatements(t testing.TB, db *gorm.DB, kind, table string, n int64) *atomic.Int64 {
	t.Helper()
	left := new(atomic.Int64)
	left.Store(n)
	fail := func(tx *gorm.DB) {
		if tx.Statement.Table != table {
			return
		}
		for {
			v := left.Load()
			if v <= 0 {
				return
			}
			if left.CompareAndSwap(v, v-1) {
				tx.AddError(ErrInjected)
				return
			}
		}
	}
	cb := db.Callback()
	var err error
	switch kind {
	case "create":
		err = cb.Create().Before("gorm:create").Register("testdb:fail", fail)
	case "update":
		err = cb.Update().Before("gorm:update").Register("testdb:fail", fail)
	default:
		t.Fatalf("FailStatements: unknown kind %q", kind)
	}
	if err != nil {
		t.Fatalf("register callback: %v", err)
	}
	return left
}
