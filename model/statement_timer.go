package model

import (
	"fmt"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// TimeStatements hands every statement the store runs, on both databases,
// to record (typically metrics.Metrics.RecordDB) with its kind and time.
func (s *Store) TimeStatements(record func(op string, d time.Duration)) error {
	return s.Use(StatementTimer(record))
}

// StatementTimer times every statement gorm runs (create, query, update,
// delete, row, raw) and hands it to record.
func StatementTimer(record func(op string, d time.Duration)) gorm.Plugin {
	return &statementPlugin{name: "oneapi:metrics", record: record}
}

// StatementCounter counts the statements run on the databases it is
// installed on (db.Use(&counter)), so tests can assert, for example, that a
// cached token lookup ran no query at all.
type StatementCounter struct {
	n atomic.Int64
}

// Name implements gorm.Plugin.
func (c *StatementCounter) Name() string { return "oneapi:statement_counter" }

// Initialize implements gorm.Plugin.
func (c *StatementCounter) Initialize(db *gorm.DB) error {
	p := &statementPlugin{name: c.Name(), record: func(string, time.Duration) { c.n.Add(1) }}
	return p.Initialize(db)
}

// Count is the number of statements run since installation or the last Reset.
func (c *StatementCounter) Count() int64 { return c.n.Load() }

// Reset zeroes the count.
func (c *StatementCounter) Reset() { c.n.Store(0) }

type statementPlugin struct {
	name   string
	record func(op string, d time.Duration)
}

// startKey holds a statement's start time in its Settings. Each operation
// runs on its own Statement (or sequentially on a shared one), so the
// before and after callbacks of one statement always pair up.
type startKey struct{ plugin string }

func (p *statementPlugin) Name() string { return p.name }

// registrar is what gorm's Before/After callback builders return.
type registrar interface {
	Register(name string, fn func(*gorm.DB)) error
}

func (p *statementPlugin) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	kinds := []struct {
		op            string
		before, after registrar
	}{
		{"create", cb.Create().Before("*"), cb.Create().After("*")},
		{"query", cb.Query().Before("*"), cb.Query().After("*")},
		{"update", cb.Update().Before("*"), cb.Update().After("*")},
		{"delete", cb.Delete().Before("*"), cb.Delete().After("*")},
		{"row", cb.Row().Before("*"), cb.Row().After("*")},
		{"raw", cb.Raw().Before("*"), cb.Raw().After("*")},
	}
	key := startKey{p.name}
	for _, k := range kinds {
		if err := k.before.Register(p.name+":before_"+k.op, func(tx *gorm.DB) {
			tx.Statement.Settings.Store(key, time.Now())
		}); err != nil {
			return fmt.Errorf("register %s callback: %w", k.op, err)
		}
		op := k.op
		if err := k.after.Register(p.name+":after_"+k.op, func(tx *gorm.DB) {
			var d time.Duration
			if v, ok := tx.Statement.Settings.Load(key); ok {
				d = time.Since(v.(time.Time))
			}
			p.record(op, d)
		}); err != nil {
			return fmt.Errorf("register %s callback: %w", k.op, err)
		}
	}
	return nil
}
