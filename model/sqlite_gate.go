package model

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/sync/semaphore"
)

// SQLite's busy handler is a sleep-and-poll loop with no queue: under a
// steady stream of writes a connection can poll for the whole busy_timeout
// and lose every time, and the caller sees "database is locked". So the
// gateway queues its own connections in Go, in arrival order: one writer at a
// time (a transaction holds the turn from BEGIN IMMEDIATE to COMMIT), and in
// rollback journal modes, where a writer's commit also excludes readers,
// readers share the gate against writers. SQLite's own locks then only ever
// wait for other processes. See docs/sqlite.md, "Locking".
type sqliteGate struct {
	sem  *semaphore.Weighted
	size int64 // a writer takes all of it
	// readers is true in rollback journal modes; set from the journal mode
	// read back after open, since a file can stay in WAL whatever the config.
	readers atomic.Bool
	wait    time.Duration // SQLITE_BUSY_TIMEOUT, honoured here as in SQLite
}

// errGateTimeout is the gate's "database is locked": the turn did not come
// within SQLITE_BUSY_TIMEOUT.
var errGateTimeout = errors.New("database is locked: gave up waiting for the gateway's SQLite write turn")

func newSQLiteGate(maxConns int, busyTimeout time.Duration) *sqliteGate {
	size := int64(max(maxConns, 1))
	g := &sqliteGate{sem: semaphore.NewWeighted(size), size: size, wait: busyTimeout}
	g.readers.Store(true) // until the journal mode is known
	return g
}

// enter waits for a turn and returns the function that ends it.
func (g *sqliteGate) enter(ctx context.Context, write bool) (func(), error) {
	n := g.size
	if !write {
		if !g.readers.Load() {
			return func() {}, nil
		}
		n = 1
	}
	if !g.sem.TryAcquire(n) {
		wctx, cancel := context.WithTimeout(ctx, g.wait)
		defer cancel()
		if err := g.sem.Acquire(wctx, n); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w (SQLITE_BUSY_TIMEOUT=%d)", errGateTimeout, g.wait.Milliseconds())
		}
	}
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			g.sem.Release(n)
		}
	}, nil
}

// isRead reports whether a statement only reads, by its first keyword. Any
// doubt counts as a write: that costs a little concurrency, never a lock error.
func isRead(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	for strings.HasPrefix(q, "--") || strings.HasPrefix(q, "/*") {
		end := "\n"
		if strings.HasPrefix(q, "/*") {
			end = "*/"
		}
		i := strings.Index(q, end)
		if i < 0 {
			return false
		}
		q = strings.TrimLeft(q[i+len(end):], " \t\r\n(")
	}
	word := q
	if i := strings.IndexFunc(q, func(r rune) bool { return !unicode.IsLetter(r) }); i >= 0 {
		word = q[:i]
	}
	switch strings.ToUpper(word) {
	case "SELECT", "VALUES", "EXPLAIN":
		return true
	case "PRAGMA":
		// Only a bare query of a known setting: "PRAGMA x = y", "PRAGMA
		// wal_checkpoint(...)" or "PRAGMA optimize" may write.
		name := strings.ToLower(strings.TrimRight(strings.TrimSpace(q[len(word):]), "; \t\r\n"))
		return readOnlyPragmas[name]
	}
	return false
}

// readOnlyPragmas are the PRAGMAs that, asked without a value, only read:
// the start-up probe, /api/metrics/db and the checkpoint's header read.
var readOnlyPragmas = map[string]bool{
	"journal_mode": true, "synchronous": true, "cache_size": true, "mmap_size": true, "temp_store": true,
	"busy_timeout": true, "wal_autocheckpoint": true, "foreign_keys": true, "schema_version": true,
	"user_version": true, "page_count": true, "page_size": true, "freelist_count": true,
}

// gatedConn is a pooled SQLite connection that takes its turn at the gate.
// database/sql uses one driver connection from one goroutine at a time, so
// inTx needs no lock.
type gatedConn struct {
	c    *sqlite3.SQLiteConn
	gate *sqliteGate
	inTx bool // statements inside a transaction run on the transaction's turn
}

var (
	_ driver.Conn               = (*gatedConn)(nil)
	_ driver.ConnBeginTx        = (*gatedConn)(nil)
	_ driver.ConnPrepareContext = (*gatedConn)(nil)
	_ driver.ExecerContext      = (*gatedConn)(nil)
	_ driver.QueryerContext     = (*gatedConn)(nil)
	_ driver.Pinger             = (*gatedConn)(nil)
)

func (g *gatedConn) turn(ctx context.Context, write bool) (func(), error) {
	if g.inTx {
		return func() {}, nil
	}
	return g.gate.enter(ctx, write)
}

func (g *gatedConn) Close() error                   { return g.c.Close() }
func (g *gatedConn) Ping(ctx context.Context) error { return g.c.Ping(ctx) }

func (g *gatedConn) Begin() (driver.Tx, error) {
	return g.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx holds a writer's turn until COMMIT or ROLLBACK: with
// _txlock=immediate every transaction is a write transaction.
func (g *gatedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	leave, err := g.turn(ctx, true)
	if err != nil {
		return nil, err
	}
	tx, err := g.c.BeginTx(ctx, opts)
	if err != nil {
		leave()
		return nil, err
	}
	g.inTx = true
	return &gatedTx{tx: tx, conn: g, leave: leave}, nil
}

func (g *gatedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	leave, err := g.turn(ctx, !isRead(query))
	if err != nil {
		return nil, err
	}
	defer leave()
	return g.c.ExecContext(ctx, query, args)
}

func (g *gatedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	leave, err := g.turn(ctx, !isRead(query))
	if err != nil {
		return nil, err
	}
	rows, err := g.c.QueryContext(ctx, query, args)
	return gateRows(rows, err, leave)
}

func (g *gatedConn) Prepare(query string) (driver.Stmt, error) {
	return g.PrepareContext(context.Background(), query)
}

func (g *gatedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := g.c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ss, ok := st.(*sqlite3.SQLiteStmt)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("sqlite: unexpected statement type %T", st)
	}
	return &gatedStmt{st: ss, conn: g, write: !isRead(query)}, nil
}

type gatedTx struct {
	tx    driver.Tx
	conn  *gatedConn
	leave func()
}

func (t *gatedTx) Commit() error   { defer t.end(); return t.tx.Commit() }
func (t *gatedTx) Rollback() error { defer t.end(); return t.tx.Rollback() }
func (t *gatedTx) end()            { t.conn.inTx = false; t.leave() }

// gatedStmt is a prepared statement (database/sql prepares only when asked
// to, e.g. gorm's PrepareStmt); it takes its turn on each execution.
type gatedStmt struct {
	st    *sqlite3.SQLiteStmt
	conn  *gatedConn
	write bool
}

func (s *gatedStmt) Close() error  { return s.st.Close() }
func (s *gatedStmt) NumInput() int { return s.st.NumInput() }

func (s *gatedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *gatedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func (s *gatedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	leave, err := s.conn.turn(ctx, s.write)
	if err != nil {
		return nil, err
	}
	defer leave()
	return s.st.ExecContext(ctx, args)
}

func (s *gatedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	leave, err := s.conn.turn(ctx, s.write)
	if err != nil {
		return nil, err
	}
	rows, err := s.st.QueryContext(ctx, args)
	return gateRows(rows, err, leave)
}

func named(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
}

// gateRows keeps the turn until the rows are closed: SQLite runs the
// statement (an INSERT ... RETURNING from gorm's Create, too) as the rows are
// read, not when the query call returns.
func gateRows(rows driver.Rows, err error, leave func()) (driver.Rows, error) {
	if err != nil {
		leave()
		return nil, err
	}
	sr, ok := rows.(*sqlite3.SQLiteRows)
	if !ok {
		rows.Close()
		leave()
		return nil, fmt.Errorf("sqlite: unexpected rows type %T", rows)
	}
	return &gatedRows{SQLiteRows: sr, leave: leave}, nil
}

// gatedRows embeds mattn's rows so that the column type methods database/sql
// looks for (and gorm's migrator uses) stay visible.
type gatedRows struct {
	*sqlite3.SQLiteRows
	leave func()
}

func (r *gatedRows) Close() error {
	defer r.leave()
	return r.SQLiteRows.Close()
}
