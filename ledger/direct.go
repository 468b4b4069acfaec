// Package ledger moves quota: the relay's Reserve, Settle and Release
// (model.QuotaLedger) and the admin API's exact reads and writes of balances
// while movements may still be in memory (model.QuotaAdmin).
//
// Three ledgers, each wrapping the one before: Direct writes every movement
// to the database at once; Batch keeps movements in memory and flushes them
// as relative updates once per BATCH_UPDATE_INTERVAL, and with leases
// (lease.go) lets several gateway nodes batch on one database, each spending
// a share of a balance it claimed in the database; Redis shares the live
// balances of several gateway nodes in Redis over a Batch instead. Hold, the
// defaults on SQLite, keeps Batch's balances but bills each request at once
// through model.GroupLedger (hold.go). Users and tokens
// are one account type (account.go): the same code moves both.
//
// The package is a storage package: it speaks SQL through gorm to the rows
// of package model, and model knows nothing of it.
package ledger

import (
	"gorm.io/gorm"

	"one-api/model"
)

// Direct applies every quota movement to the database at once, with
// conditional updates so a balance never goes negative. It is the store's
// own (model.DirectLedger): the group-commit ledger in model embeds it.
type Direct = model.DirectLedger

// NewDirect returns a ledger writing through to db.
func NewDirect(db *gorm.DB) *Direct { return model.NewDirectLedger(db) }

// DirectFor returns a ledger writing through to the store's database.
func DirectFor(s *model.Store) *Direct { return NewDirect(s.Gorm()) }

// addDelta adds d to a's row as one relative update.
func addDelta(tx *gorm.DB, a accountID, d delta) error {
	t := a.kind.table()
	cols := map[string]any{
		t.balance:    gorm.Expr(t.addBalance, d.Balance),
		"used_quota": gorm.Expr("used_quota + ?", d.Used),
	}
	if t.requests != "" {
		cols[t.requests] = gorm.Expr(t.addRequests, d.Requests)
	}
	return tx.Model(t.model).Where("id = ?", a.id).Updates(cols).Error
}

func addChannelUsed(tx *gorm.DB, channelID int, q int64) error {
	return tx.Model(&model.Channel{}).Where("id = ?", channelID).
		Update("used_quota", gorm.Expr("used_quota + ?", q)).Error
}
