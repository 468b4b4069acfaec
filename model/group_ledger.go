package model

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"gorm.io/gorm"

	"one-api/groupcommit"
)

// GroupLedger is the synchronous write path (no BATCH_UPDATE, no
// LOG_BATCH) with group commit (issue 19): the settlements and consume
// logs of concurrent requests share one transaction, and each caller
// returns only once its own rows are committed, so a request whose response
// completed is on disk even after a kill -9.
//
// Reservations join the shared transactions too, each checked with
// DirectLedger's conditional UPDATE (summed per account when the balance
// covers the sum, which grants exactly what one-by-one would); settlements
// only move quota relatively, summed per account. Release and the admin
// side are DirectLedger's.
type GroupLedger struct {
	*DirectLedger // Release and the admin side

	db, logDB *gorm.DB
	main      *groupcommit.Committer[charge]
	// logs commits consume logs on LOG_SQL_DSN's database; nil when logs
	// live in the main database and join the settlements' transaction.
	logs *groupcommit.Committer[charge]
}

// charge is one request's writes: a reservation, or a settlement, its
// consume log or both.
type charge struct {
	reserve    Reservation
	hasReserve bool
	settle     Settlement
	hasSettle  bool
	log        *Log
}

// NewGroupLedger starts the committer(s) writing to db and logDB
// (Store.DB and Store.LogDB). Close stops them.
func NewGroupLedger(db, logDB *gorm.DB) *GroupLedger {
	g := &GroupLedger{DirectLedger: NewDirectLedger(db), db: db, logDB: logDB}
	g.main = groupcommit.New(g.commitMain, 0)
	if logDB != db {
		g.logs = groupcommit.New(g.commitLogs, 0)
	}
	return g
}

// Reserve implements QuotaLedger: concurrent reservations share a
// transaction too, each still checked against the balance as
// DirectLedger's conditional UPDATE checks it (see reserve).
func (g *GroupLedger) Reserve(ctx context.Context, r Reservation) error {
	return g.main.Do(ctx, charge{reserve: r, hasReserve: true})
}

// Settle implements QuotaLedger.
func (g *GroupLedger) Settle(ctx context.Context, s Settlement) error {
	return g.main.Do(ctx, charge{settle: s, hasSettle: true})
}

// Record implements LogSink. l must not change until Record returns.
func (g *GroupLedger) Record(ctx context.Context, l *Log) error {
	if g.logs != nil {
		return g.logs.Do(ctx, charge{log: l})
	}
	return g.main.Do(ctx, charge{log: l})
}

// Bill implements Biller: with logs in the main database the charge and its
// consume log commit together, so they are never found one without the
// other.
func (g *GroupLedger) Bill(ctx context.Context, s Settlement, l *Log) error {
	if l == nil {
		return g.Settle(ctx, s)
	}
	if g.logs == nil {
		return g.main.Do(ctx, charge{settle: s, hasSettle: true, log: l})
	}
	return errors.Join(g.Settle(ctx, s), g.logs.Do(ctx, charge{log: l}))
}

// Close commits what is queued and stops the committers.
func (g *GroupLedger) Close(ctx context.Context) error {
	err := g.main.Close(ctx)
	if g.logs != nil {
		err = errors.Join(err, g.logs.Close(ctx))
	}
	return err
}

func (g *GroupLedger) commitMain(ctx context.Context, items []charge, results []error) error {
	err := g.commit(ctx, g.db, items, results)
	if err == nil || len(items) > 1 || !items[0].hasSettle || items[0].log == nil {
		return err
	}
	// One request's settlement and log failed together: write them
	// apart, so a log row the database refuses does not lose the charge.
	c := items[0]
	var res [1]error
	errSettle := g.commit(ctx, g.db, []charge{{settle: c.settle, hasSettle: true}}, res[:])
	errLog := g.commit(ctx, g.db, []charge{{log: c.log}}, res[:])
	return errors.Join(errSettle, errLog)
}

func (g *GroupLedger) commitLogs(ctx context.Context, items []charge, results []error) error {
	return g.commit(ctx, g.logDB, items, results)
}

// commit writes items in one transaction on db, account by account in id
// order (users, then tokens, then channels, as Reserve locks them, so
// concurrent transactions cannot deadlock): each account's settlements
// summed in one UPDATE, then its reservations (see reserve), then one
// multi-row INSERT of the logs. A refused reservation is its item's
// result, not a failure of the batch.
func (g *GroupLedger) commit(ctx context.Context, db *gorm.DB, items []charge, results []error) error {
	if db.Dialector.Name() == "sqlite" {
		// go-sqlite3 runs each step of a cancellable statement on a
		// goroutine of its own; the write queue bounds the wait instead
		// (SQLITE_BUSY_TIMEOUT), as for the log batcher.
		ctx = context.WithoutCancel(ctx)
	}
	var users, tokens map[int]*accountSum
	channels := map[int]int64{}
	var logs []*Log
	for i := range items {
		c := &items[i]
		if c.log != nil {
			c.log.ID = 0 // a rolled-back attempt may have set it
			logs = append(logs, c.log)
		}
		if c.hasReserve {
			users = addReserve(users, c.reserve.UserID, i)
		}
		if !c.hasSettle {
			continue
		}
		s := &c.settle
		delta := s.Quota - s.Amount
		users = addSum(users, s.UserID, delta, s.Quota)
		if !s.Unlimited {
			tokens = addSum(tokens, s.TokenID, delta, s.Quota)
		}
		if s.ChannelID != 0 && s.Quota != 0 {
			channels[s.ChannelID] += s.Quota
		}
	}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, id := range sortedKeys(users) {
			a := users[id]
			if a.count > 0 {
				if err := tx.Exec("UPDATE users SET quota = quota - ?, used_quota = used_quota + ?, request_count = request_count + ? WHERE id = ?",
					a.delta, a.used, a.count, id).Error; err != nil {
					return fmt.Errorf("settle user quota: %w", err)
				}
			}
			if err := reserve(tx, "users", "quota", id, a.reserving, items, results, ErrUserQuotaExhausted); err != nil {
				return err
			}
		}
		// Token reservations only for the items their user granted.
		for _, id := range sortedKeys(users) {
			for _, i := range users[id].reserving {
				if r := items[i].reserve; results[i] == nil && !r.Unlimited {
					tokens = addReserve(tokens, r.TokenID, i)
				}
			}
		}
		for _, id := range sortedKeys(tokens) {
			a := tokens[id]
			if a.count > 0 {
				if err := tx.Exec("UPDATE tokens SET remain_quota = remain_quota - ?, used_quota = used_quota + ? WHERE id = ?",
					a.delta, a.used, id).Error; err != nil {
					return fmt.Errorf("settle token quota: %w", err)
				}
			}
			if err := reserve(tx, "tokens", "remain_quota", id, a.reserving, items, results, ErrTokenQuotaExhausted); err != nil {
				return err
			}
		}
		// A token's refusal gives back what its user granted (that row is
		// already locked by this transaction), as DirectLedger's rollback.
		back := map[int]int64{}
		for _, id := range sortedKeys(tokens) {
			for _, i := range tokens[id].reserving {
				if results[i] != nil {
					back[items[i].reserve.UserID] += items[i].reserve.Amount
				}
			}
		}
		for _, id := range sortedKeys(back) {
			if err := tx.Exec("UPDATE users SET quota = quota + ? WHERE id = ?", back[id], id).Error; err != nil {
				return fmt.Errorf("return user quota of a refused token: %w", err)
			}
		}
		for _, id := range sortedKeys(channels) {
			if err := tx.Exec("UPDATE channels SET used_quota = used_quota + ? WHERE id = ?", channels[id], id).Error; err != nil {
				return fmt.Errorf("settle channel quota: %w", err)
			}
		}
		if len(logs) > 0 {
			if err := tx.CreateInBatches(logs, insertChunk).Error; err != nil {
				return fmt.Errorf("insert %d logs: %w", len(logs), err)
			}
		}
		return nil
	})
	if err != nil {
		clear(results)
		return fmt.Errorf("group commit of %d requests: %w", len(items), err)
	}
	return nil
}

// reserve holds the reservations of items[reserving] on one account row
// with DirectLedger's conditional UPDATE. All of them at once when the
// balance covers their sum, which is exactly when each would be granted
// one after the other (amounts are not negative); otherwise one by one, in
// arrival order, a refusal setting that item's result to refused.
func reserve(tx *gorm.DB, table, col string, id int, reserving []int, items []charge, results []error, refused error) error {
	if len(reserving) == 0 {
		return nil
	}
	// hold takes amount if the balance is at least amount and above
	// floor (DirectLedger: floor 0).
	hold := func(amount, floor int64) (bool, error) {
		res := tx.Exec("UPDATE "+table+" SET "+col+" = "+col+" - ? WHERE id = ? AND "+col+" >= ? AND "+col+" > ?", amount, id, amount, floor)
		if res.Error != nil {
			return false, fmt.Errorf("reserve %s: %w", col, res.Error)
		}
		return res.RowsAffected > 0, nil
	}
	if len(reserving) > 1 {
		var sum int64
		for _, i := range reserving {
			sum += items[i].reserve.Amount
		}
		// One by one, the last is granted only if what its predecessors
		// left is above 0: the balance must exceed sum − last.
		last := items[reserving[len(reserving)-1]].reserve.Amount
		if ok, err := hold(sum, sum-last); ok || err != nil {
			return err
		}
	}
	for _, i := range reserving {
		ok, err := hold(items[i].reserve.Amount, 0)
		if err != nil {
			return err
		}
		if !ok {
			results[i] = refused
		}
	}
	return nil
}

// accountSum is one account's movements within a batch.
type accountSum struct {
	delta     int64 // settled beyond the reservations (negative: refunded)
	used      int64
	count     int   // settlements
	reserving []int // indexes of the items reserving on it
}

func account(m map[int]*accountSum, id int) (map[int]*accountSum, *accountSum) {
	if m == nil {
		m = map[int]*accountSum{}
	}
	a := m[id]
	if a == nil {
		a = &accountSum{}
		m[id] = a
	}
	return m, a
}

func addSum(m map[int]*accountSum, id int, delta, used int64) map[int]*accountSum {
	m, a := account(m, id)
	a.delta += delta
	a.used += used
	a.count++
	return m
}

func addReserve(m map[int]*accountSum, id, item int) map[int]*accountSum {
	m, a := account(m, id)
	a.reserving = append(a.reserving, item)
	return m
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Biller charges a finished request and records its consume log as one
// unit (l nil: no log). GroupLedger commits both in one transaction.
type Biller interface {
	Bill(ctx context.Context, s Settlement, l *Log) error
}

var (
	_ QuotaLedger = (*GroupLedger)(nil)
	_ LogSink     = (*GroupLedger)(nil)
	_ Biller      = (*GroupLedger)(nil)
	_ QuotaAdmin  = (*GroupLedger)(nil)
)

// GroupLedger starts a group-committing ledger on the store's databases
// (Close stops it).
func (s *Store) GroupLedger() *GroupLedger { return NewGroupLedger(s.db, s.logDB) }
