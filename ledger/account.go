package ledger

import (
	"strconv"

	"one-api/model"
)

// kind says which table an account's balance lives in. Users and tokens
// move alike (a balance, a used_quota, and for users a request count), so
// every ledger handles both through one account type and this table.
type kind uint8

const (
	userKind kind = iota
	tokenKind
)

// table describes where a kind's columns live.
type table struct {
	name      string // the table
	label     string // for messages and Redis keys
	balance   string // the column Reserve checks: users.quota, tokens.remain_quota
	requests  string // request_count, or "" when the table counts none
	model     any    // the gorm model
	exhausted error  // what Reserve refuses with when the balance is short

	// SQL fragments, built once so the request path builds no strings.
	canSpend    string // WHERE id = ? AND balance >= ? AND balance > 0
	addBalance  string // balance + ?
	addRequests string // request_count + ?
}

var tables = [...]table{
	userKind:  newTable("users", "user", "quota", "request_count", &model.User{}, model.ErrUserQuotaExhausted),
	tokenKind: newTable("tokens", "token", "remain_quota", "", &model.Token{}, model.ErrTokenQuotaExhausted),
}

func newTable(name, label, balance, requests string, m any, exhausted error) table {
	return table{name: name, label: label, balance: balance, requests: requests, model: m, exhausted: exhausted,
		canSpend:    "id = ? AND " + balance + " >= ? AND " + balance + " > 0",
		addBalance:  balance + " + ?",
		addRequests: requests + " + ?",
	}
}

func (k kind) table() *table { return &tables[k] }

// kindOfTable returns the kind whose balance lives in the named table.
func kindOfTable(name string) (kind, bool) {
	for k := range tables {
		if tables[k].name == name {
			return kind(k), true
		}
	}
	return 0, false
}

// accountID names one balance: a user's or a token's.
type accountID struct {
	kind kind
	id   int
}

func (a accountID) String() string { return a.kind.table().label + " " + strconv.Itoa(a.id) }

// accounts returns the balances r moves: the user's, and the token's unless
// it is unlimited. The array keeps it off the heap.
func accounts(r model.Reservation) ([2]accountID, int) {
	ids := [2]accountID{{userKind, r.UserID}, {tokenKind, r.TokenID}}
	if r.Unlimited {
		return ids, 1
	}
	return ids, 2
}

// delta is what the next flush adds to an account's row.
type delta struct {
	Balance  int64 // quota or remain_quota
	Used     int64 // used_quota
	Requests int64 // request_count (users only)
}

func (d *delta) add(o delta) {
	d.Balance += o.Balance
	d.Used += o.Used
	d.Requests += o.Requests
}

func (d delta) user() model.UserDelta {
	return model.UserDelta{Quota: d.Balance, UsedQuota: d.Used, RequestCount: d.Requests}
}

func (d delta) token() model.TokenDelta {
	return model.TokenDelta{RemainQuota: d.Balance, UsedQuota: d.Used}
}

// settleDelta is what a settlement adds to an account of kind k: the
// difference to the reservation, the final cost as used, one request.
func settleDelta(k kind, s model.Settlement) delta {
	d := delta{Balance: s.Amount - s.Quota, Used: s.Quota}
	if k.table().requests != "" {
		d.Requests = 1
	}
	return d
}

// account is one balance held in memory by the batch ledger.
type account struct {
	loaded bool
	// balance is what Reserve checks: the balance column as the database
	// will hold it once everything is flushed, or with leases (lease.go) the
	// unspent lease L_n.
	balance int64
	pending delta

	// With leases only (lease.go).
	returned int64 // lease given back that no flush has recorded yet (R_n)
	recent   int64 // spend over the last flush interval, for the chunk size
	claimed  bool  // this node's quota_leases row exists, as far as it knows
	refused  bool  // a grant was refused since the last flush
}

func (a *account) isLoaded() bool { return a != nil && a.loaded }

// canSpend is Direct's WHERE balance >= ? AND balance > 0.
func (a *account) canSpend(amount int64) bool { return a.balance >= amount && a.balance > 0 }

// move adds amount to the balance and to the pending delta.
func (a *account) move(amount int64) {
	a.balance += amount
	a.pending.Balance += amount
}

// settle applies a settlement to an account of kind k.
func (a *account) settle(k kind, s model.Settlement) {
	d := settleDelta(k, s)
	a.balance += d.Balance
	a.pending.add(d)
}
