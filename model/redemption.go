package model

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Redemption code statuses, as one-api stores them.
const (
	RedemptionEnabled  = 1
	RedemptionDisabled = 2
	RedemptionUsed     = 3
)

// Why a code cannot be redeemed, checked with errors.Is.
var (
	ErrRedemptionInvalid  = errors.New("invalid redemption code")
	ErrRedemptionUsed     = errors.New("the redemption code has already been used")
	ErrRedemptionDisabled = errors.New("the redemption code is disabled")
)

// redemptionEditableColumns are what PUT /api/redemption/ may change.
var redemptionEditableColumns = map[string]bool{"name": true, "quota": true, "status": true}

// keyColumn names `key`, a reserved word, so gorm quotes it per dialect.
var keyColumn = clause.Column{Name: "key"}

// ListRedemptions returns a page of codes, newest first.
func (s *Store) ListRedemptions(ctx context.Context, p Page) ([]Redemption, error) {
	var rs []Redemption
	if err := p.apply(s.db.WithContext(ctx)).Order("id desc").Find(&rs).Error; err != nil {
		return nil, s.dbErr("list redemptions", err)
	}
	return rs, nil
}

// SearchRedemptions finds codes whose name starts with keyword, or whose id
// is keyword (one-api's semantics), newest first.
func (s *Store) SearchRedemptions(ctx context.Context, keyword string, p Page) ([]Redemption, error) {
	cond := s.db.Where("name LIKE ?", keyword+"%")
	// Compared only when numeric: PostgreSQL refuses id = 'text'.
	if id, err := strconv.Atoi(keyword); err == nil {
		cond = cond.Or("id = ?", id)
	}
	var rs []Redemption
	if err := p.apply(s.db.WithContext(ctx)).Where(cond).Order("id desc").Find(&rs).Error; err != nil {
		return nil, s.dbErr("search redemptions", err)
	}
	return rs, nil
}

// GetRedemption returns code id.
func (s *Store) GetRedemption(ctx context.Context, id int) (*Redemption, error) {
	var r Redemption
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, s.dbErr("get redemption", err)
	}
	return &r, nil
}

// CreateRedemptions inserts the codes in one transaction: all or none.
func (s *Store) CreateRedemptions(ctx context.Context, rs []Redemption) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.CreateInBatches(rs, 100).Error
	})
	if err != nil {
		return s.dbErr("create redemptions", err)
	}
	return nil
}

// UpdateRedemption writes the named columns of r (name, quota, status) to
// row r.ID and returns the row as stored.
func (s *Store) UpdateRedemption(ctx context.Context, r *Redemption, columns []string) (*Redemption, error) {
	for _, col := range columns {
		if !redemptionEditableColumns[col] {
			return nil, fmt.Errorf("update redemption: column %q is not editable", col)
		}
	}
	db := s.db.WithContext(ctx)
	if len(columns) > 0 {
		q := db.Model(&Redemption{}).Where("id = ?", r.ID)
		if slices.Contains(columns, "status") {
			// A code redeemed meanwhile stays used.
			q = q.Where("status <> ?", RedemptionUsed)
		}
		if err := q.Select(columns).Updates(r).Error; err != nil {
			return nil, s.dbErr("update redemption", err)
		}
	}
	return s.GetRedemption(ctx, r.ID)
}

// DeleteRedemption removes code id.
func (s *Store) DeleteRedemption(ctx context.Context, id int) error {
	res := s.db.WithContext(ctx).Where("id = ?", id).Delete(&Redemption{})
	if res.Error != nil {
		return s.dbErr("delete redemption", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete redemption: %w", ErrNotFound)
	}
	return nil
}

// GetRedemptionByKey returns the code with exactly this key.
func (s *Store) GetRedemptionByKey(ctx context.Context, key string) (*Redemption, error) {
	return s.tx(ctx).redemptionByKey(key)
}

func (t Tx) redemptionByKey(key string) (*Redemption, error) {
	db := t.db
	if key == "" {
		return nil, ErrRedemptionInvalid
	}
	var r Redemption
	err := db.Where(clause.Eq{Column: keyColumn, Value: key}).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrRedemptionInvalid
	}
	if err != nil {
		return nil, dbErrOn(db, "get redemption by key", err)
	}
	// Exact match only: MySQL's default collation ignores case and char(32)
	// pads (see GetTokenAuth).
	if strings.TrimRight(r.Key, " ") != key {
		return nil, ErrRedemptionInvalid
	}
	return &r, nil
}

// Redeem spends code key for userID on the transaction and adds its quota to the
// user's balance (relatively: quota = quota + ?, which commutes with the
// ledger's batched deltas). The claim is one conditional UPDATE (WHERE
// status = enabled), so of any number of concurrent redeems on any number of
// nodes exactly one changes the row; the others get ErrRedemptionUsed. Run
// it through QuotaAdmin.Credit so the live balance moves too.
func (t Tx) Redeem(key string, userID int, now int64) (*Redemption, error) {
	tx := t.db
	r, err := t.redemptionByKey(key)
	if err != nil {
		return nil, err
	}
	if err := r.Redeemable(); err != nil {
		return nil, err
	}
	res := tx.Model(&Redemption{}).Where("id = ? AND status = ?", r.ID, RedemptionEnabled).
		Updates(map[string]any{"status": RedemptionUsed, "redeemed_time": now})
	if res.Error != nil {
		return nil, dbErrOn(tx, "claim redemption", res.Error)
	}
	if res.RowsAffected == 0 {
		// Another redeem (or a disable) committed first.
		cur, err := t.redemptionByKey(key)
		if err != nil {
			return nil, err
		}
		if err := cur.Redeemable(); err != nil {
			return nil, err
		}
		return nil, ErrRedemptionUsed
	}
	if err := t.AddUserQuota(userID, r.Quota); err != nil {
		return nil, err
	}
	r.Status, r.RedeemedTime = RedemptionUsed, now
	return r, nil
}

// Redeemable is nil for an enabled code, else ErrRedemptionDisabled or
// ErrRedemptionUsed.
func (r *Redemption) Redeemable() error {
	switch r.Status {
	case RedemptionEnabled:
		return nil
	case RedemptionDisabled:
		return ErrRedemptionDisabled
	}
	return ErrRedemptionUsed
}

// AddUserQuota adds amount to user id's quota relatively on the transaction;
// ErrNotFound when the user does not exist. Run it through
// QuotaAdmin.Credit.
func (t Tx) AddUserQuota(id int, amount int64) error {
	tx := t.db
	res := tx.Model(&User{}).Where("id = ?", id).Update("quota", gorm.Expr("quota + ?", amount))
	if res.Error != nil {
		return dbErrOn(tx, "add user quota", res.Error)
	}
	if res.RowsAffected == 0 {
		// MySQL counts changed rows only: adding 0 changes none.
		var u User
		if err := tx.Select("id").Where("id = ?", id).Take(&u).Error; err != nil {
			return dbErrOn(tx, "add user quota", err)
		}
	}
	return nil
}
