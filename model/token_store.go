package model

import (
	"context"
	"fmt"
	"slices"

	"gorm.io/gorm"
)

// tokenEditableColumns are the columns the admin API may change.
var tokenEditableColumns = []string{"name", "status", "expired_time", "remain_quota", "unlimited_quota", "models", "subnet", "rpm_limit"}

// ListTokens returns a page of user id's tokens, newest first.
func (s *Store) ListTokens(ctx context.Context, userID int, p Page) ([]Token, error) {
	var tokens []Token
	err := p.apply(s.db.WithContext(ctx)).Where("user_id = ?", userID).Order("id desc").Find(&tokens).Error
	if err != nil {
		return nil, s.dbErr("list tokens", err)
	}
	return tokens, nil
}

// GetToken returns token id when it belongs to userID; ErrNotFound otherwise,
// so nobody learns whether another user's token id exists.
func (s *Store) GetToken(ctx context.Context, id, userID int) (*Token, error) {
	var t Token
	if err := s.db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Take(&t).Error; err != nil {
		return nil, s.dbErr("get token", err)
	}
	return &t, nil
}

// CreateToken inserts t; its Key is stored as given (without "sk-").
func (s *Store) CreateToken(ctx context.Context, t *Token) error {
	if err := s.db.WithContext(ctx).Create(t).Error; err != nil {
		return s.dbErr("create token", err)
	}
	return nil
}

// UpdateToken writes the named columns of t (zero values included) to the
// row with t's ID and UserID. Callers name only what the request sets: a
// column written back from an earlier read would undo the charges made since
// (remain_quota, above all). Columns other than tokenEditableColumns are
// refused; used_quota is the ledger's alone.
func (s *Store) UpdateToken(ctx context.Context, t *Token, columns []string) error {
	return s.tx(ctx).UpdateToken(t, columns)
}

// UpdateToken is Store.UpdateToken on the transaction: the quota ledger's
// Apply, which a write to remain_quota must go through.
func (x Tx) UpdateToken(t *Token, columns []string) error {
	tx := x.db
	for _, col := range columns {
		if !slices.Contains(tokenEditableColumns, col) {
			return fmt.Errorf("update token: column %q is not editable", col)
		}
	}
	if len(columns) > 0 {
		res := tx.Model(&Token{}).Where("id = ? AND user_id = ?", t.ID, t.UserID).Select(columns).Updates(t)
		if res.Error != nil {
			return dbErrOn(tx, "update token", res.Error)
		}
		if res.RowsAffected > 0 {
			return nil
		}
	}
	// Nothing written, or MySQL counting changed rows only: tell a no-op
	// from a missing row.
	var found Token
	if err := tx.Select("id").Where("id = ? AND user_id = ?", t.ID, t.UserID).Take(&found).Error; err != nil {
		return dbErrOn(tx, "update token", err)
	}
	return nil
}

// DeleteToken removes token id of userID and returns its key, so that caches
// can drop it.
func (s *Store) DeleteToken(ctx context.Context, id, userID int) (string, error) {
	var key string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var t Token
		if err := tx.Where("id = ? AND user_id = ?", id, userID).Take(&t).Error; err != nil {
			return err
		}
		if err := tx.Delete(&Token{}, t.ID).Error; err != nil {
			return err
		}
		key = t.Key
		return nil
	})
	if err != nil {
		return "", s.dbErr("delete token", err)
	}
	return key, nil
}
