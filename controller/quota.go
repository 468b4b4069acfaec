package controller

import (
	"one-api/ledger"
	"one-api/model"
)

// With batched quota updates the database rows lag the ledger by up to one
// interval. Views therefore add the ledger's pending amounts to the rows they
// read, and absolute writes to quota columns go through the ledger's Apply,
// which orders them after every movement made before them. The admin API
// never writes used_quota or request_count: they are the ledger's alone.

// quota is the ledger's admin side; without one, quota moves straight to the
// database and nothing is ever pending.
func (a *API) quota() model.QuotaAdmin {
	if a.Quota != nil {
		return a.Quota
	}
	return ledger.DirectFor(a.Store)
}

// withPendingUser adds the user's unflushed movements to the row.
func (a *API) withPendingUser(u *model.User) *model.User {
	d := a.quota().Pending(u.ID)
	u.Quota += d.Quota
	u.UsedQuota += d.UsedQuota
	u.RequestCount += int(d.RequestCount)
	return u
}

// withPendingToken adds the token's unflushed movements to the row.
func (a *API) withPendingToken(t *model.Token) *model.Token {
	d := a.quota().PendingToken(t.ID)
	t.RemainQuota += d.RemainQuota
	t.UsedQuota += d.UsedQuota
	return t
}

// withPendingChannel adds the channel's unflushed used quota to the row.
func (a *API) withPendingChannel(ch *model.Channel) *model.Channel {
	ch.UsedQuota += a.quota().PendingChannel(ch.ID)
	return ch
}
