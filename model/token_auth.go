package model

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// GetTokenAuth implements TokenStore with one joined query.
func (s *Store) GetTokenAuth(ctx context.Context, key string) (*TokenAuth, error) {
	if key == "" {
		return nil, ErrTokenNotFound
	}
	var row struct {
		Token
		Username   string
		UserStatus int
		Role       int
		UserGroup  string
		UserQuota  int64
	}
	err := s.db.WithContext(ctx).Table("tokens").
		Select("tokens.*, users.username AS username, users.status AS user_status, users.role AS role, users." + quoteCol(s.db, "group") + " AS user_group, users.quota AS user_quota").
		Joins("JOIN users ON users.id = tokens.user_id").
		Where(clause.Eq{Column: clause.Column{Table: "tokens", Name: "key"}, Value: key}).
		Take(&row).Error
	// MySQL's default collation ignores case, and char columns ignore
	// trailing spaces (PostgreSQL pads a shorter key with them): a near miss
	// must not authenticate, nor be cached apart from the key TokenChanged
	// evicts.
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && strings.TrimRight(row.Key, " ") != key) {
		return nil, ErrTokenNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get token: %w", err)
	}
	a := &TokenAuth{
		TokenID: row.ID, Name: row.Name, Status: row.Status, ExpiredTime: row.ExpiredTime,
		RemainQuota: row.RemainQuota, Unlimited: row.UnlimitedQuota,
		UserID: row.UserID, Username: row.Username, UserStatus: row.UserStatus, Role: row.Role,
		Group: row.UserGroup, UserQuota: row.UserQuota,
	}
	if row.Models != nil {
		a.Models = *row.Models
	}
	if row.Subnet != nil {
		a.Subnet = *row.Subnet
	}
	if row.RPMLimit != nil {
		a.RPMLimit = *row.RPMLimit
	}
	return a, nil
}

// quoteCol quotes a reserved column name for the dialect in use.
func quoteCol(db *gorm.DB, name string) string {
	return db.Statement.Quote(name)
}
