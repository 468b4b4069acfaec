package model

import (
	"context"
	"errors"
)

// Sentinel errors of the relay-facing interfaces.
var (
	ErrTokenNotFound       = errors.New("token not found")
	ErrUserQuotaExhausted  = errors.New("user quota is not enough")
	ErrTokenQuotaExhausted = errors.New("token quota is not enough")
)

// TokenAuth is everything token authentication needs, read in one query:
// the token's own facts and its owner's.
type TokenAuth struct {
	TokenID     int
	Name        string
	Status      int
	ExpiredTime int64
	RemainQuota int64
	Unlimited   bool
	Models      string // comma-separated allow-list; empty = any
	Subnet      string // comma-separated CIDRs; empty = any
	RPMLimit    int    // requests per minute; 0 = no limit

	UserID     int
	Username   string
	UserStatus int
	Role       int
	Group      string
	UserQuota  int64
}

// TokenStore resolves a relay key (without "sk-") to its facts.
// It returns ErrTokenNotFound for unknown keys.
type TokenStore interface {
	GetTokenAuth(ctx context.Context, key string) (*TokenAuth, error)
}

// Invalidator is told when the admin API changed a token or a user, so any
// cached facts are dropped before the next request.
type Invalidator interface {
	TokenChanged(key string)
	UserChanged(userID int)
}

// Reservation is quota held before an upstream call (one-api's pre-consume).
type Reservation struct {
	UserID    int
	TokenID   int
	Unlimited bool // the token is unlimited: only the user balance is checked and charged
	Amount    int64
}

// Settlement is the final charge of one successful request.
type Settlement struct {
	Reservation       // what was reserved (Amount may be 0)
	ChannelID   int   // channel whose used_quota grows
	Quota       int64 // the final cost
}

// QuotaLedger moves quota. Reserve refuses with ErrUserQuotaExhausted or
// ErrTokenQuotaExhausted; Settle charges Quota−Amount more (or refunds the
// difference), adds Quota to used_quota of user, token (unless unlimited) and
// channel and counts the request; Release returns a reservation in full.
type QuotaLedger interface {
	Reserve(ctx context.Context, r Reservation) error
	Settle(ctx context.Context, s Settlement) error
	Release(ctx context.Context, r Reservation) error
}

// LogSink records log rows (consume logs from the relay).
type LogSink interface {
	Record(ctx context.Context, l *Log) error
}

// QuotaAdmin is what the admin API needs from the quota ledger to read and
// write balances exactly while quota movements may still be in memory.
// Apply runs an absolute write to quota columns (quota = ?, remain_quota = ?)
// on tx (a Tx), ordered after every movement made before it; a relative write to
// a user's quota (quota = quota + ?) runs through Credit, which also moves
// the live balance (quota_credit.go: with Redis balances a write straight
// to the database would never reach the shared counter). Forget /
// ForgetToken drop a deleted account's balance. The Pending* amounts are
// what the database rows do not hold yet; readers add them to what they
// read.
type QuotaAdmin interface {
	Apply(ctx context.Context, write func(tx Tx) error) error
	// Credit runs write, which adds to userID's quota relatively and
	// returns how much (0: nothing), in one transaction.
	Credit(ctx context.Context, userID int, write func(tx Tx) (int64, error)) error
	Pending(userID int) UserDelta
	PendingToken(tokenID int) TokenDelta
	PendingChannel(channelID int) int64
	Forget(userID int)
	ForgetToken(tokenID int)
}
