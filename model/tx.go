package model

import (
	"context"

	"gorm.io/gorm"
)

// Tx is a database transaction someone else owns, with the typed writes
// the admin API makes inside it: the quota ledger's Apply and Credit open
// it (ordering an absolute write after the movements made before it) and
// hand it to the caller's callback. It is a value; it is valid only inside
// that callback.
type Tx struct{ db *gorm.DB }

// NewTx wraps a gorm transaction, for the storage packages that open one
// (the quota ledgers); everything else receives a Tx.
func NewTx(tx *gorm.DB) Tx { return Tx{db: tx} }

// Gorm is the transaction's handle, for the storage package that opened it
// (the Redis ledger re-reads the rows an admin write set).
func (t Tx) Gorm() *gorm.DB { return t.db }

// tx is the Store's handle as a Tx without a transaction of its own, so
// the single-statement writes and the transactional ones share one body.
func (s *Store) tx(ctx context.Context) Tx { return Tx{db: s.db.WithContext(ctx)} }

// UserPatch names the users columns an update sets; nil fields stay as
// they are. used_quota and request_count are not here: they are the
// ledger's alone.
type UserPatch struct {
	Username    *string
	DisplayName *string
	Password    *string // already hashed
	Group       *string
	Email       *string
	AccessToken *string
	AffCode     *string
	Quota       *int64 // absolute: through QuotaAdmin.Apply (SetsQuota)
	Status      *int
	Role        *int
}

// SetsQuota reports whether p writes the balance absolutely, which must be
// ordered after the movements made before it (QuotaAdmin.Apply).
func (p UserPatch) SetsQuota() bool { return p.Quota != nil }

// Empty reports whether p sets nothing.
func (p UserPatch) Empty() bool { return len(p.columns()) == 0 }

// columns maps p to the columns it sets.
func (p UserPatch) columns() map[string]any {
	cols := map[string]any{}
	for name, v := range map[string]*string{
		"username": p.Username, "display_name": p.DisplayName, "password": p.Password, "group": p.Group,
		"email": p.Email, "access_token": p.AccessToken, "aff_code": p.AffCode,
	} {
		if v != nil {
			cols[name] = *v
		}
	}
	if p.Quota != nil {
		cols["quota"] = *p.Quota
	}
	if p.Status != nil {
		cols["status"] = *p.Status
	}
	if p.Role != nil {
		cols["role"] = *p.Role
	}
	return cols
}
