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
	count := func(*gorm.DB) { n.Add(1) }
	cb := db.Callback()
	const name = "testdb:count"
	for _, err := range []error{
		cb.Query().Before("gorm:query").Register(name, count),
		cb.Create().Before("gorm:create").Register(name, count),
		cb.Update().Before("gorm:update").Register(name, count),
		cb.Delete().Before("gorm:delete").Register(name, count),
		cb.Row().Before("gorm:row").Register(name, count),
		cb.Raw().Before("gorm:raw").Register(name, count),
	} {
		if err != nil {
			t.Fatalf("register callback: %v", err)
		}
	}
	return n
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
