package model

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"one-api/common"
)

// RootCredentials are the root user's secrets chosen at first start.
type RootCredentials struct {
	Password    string
	AccessToken string
	TokenKey    string // relay key without "sk-"; empty when none was created
	// PasswordGenerated and AccessTokenGenerated say which secrets were
	// generated here (and must be shown once) rather than configured.
	PasswordGenerated    bool
	AccessTokenGenerated bool
}

// BootstrapRoot creates the root user when the users table is empty, from the
// INITIAL_ROOT_* values or with strong random ones, and turns
// self-registration off (option RegisterEnabled) unless an option says
// otherwise. It returns nil, nil when users already exist.
func (s *Store) BootstrapRoot(ctx context.Context, password, accessToken, tokenKey string) (*RootCredentials, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&User{}).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return nil, nil
	}
	creds := &RootCredentials{Password: password, AccessToken: accessToken, TokenKey: tokenKey}
	if creds.Password == "" {
		creds.Password = common.RandomString(20)
		creds.PasswordGenerated = true
	}
	if creds.AccessToken == "" {
		creds.AccessToken = common.RandomString(32)
		creds.AccessTokenGenerated = true
	}
	if len(creds.AccessToken) > 32 {
		return nil, errors.New("INITIAL_ROOT_ACCESS_TOKEN must be at most 32 characters")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(creds.Password), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("hash root password: %w", err)
	}
	root := &User{
		Username: "root", Password: string(hash), DisplayName: "Root User", Role: RoleRoot,
		Status: UserEnabled, Quota: 500000000000000, AccessToken: creds.AccessToken,
		Group: "default", AffCode: common.RandomString(4),
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(root).Error; err != nil {
			return fmt.Errorf("create root user: %w", err)
		}
		// A database we create starts closed to self-registration (one-api
		// starts open); a one-api database, which always has its root,
		// keeps whatever its options say.
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&Option{Key: "RegisterEnabled", Value: "false"}).Error; err != nil {
			return fmt.Errorf("turn registration off: %w", err)
		}
		if creds.TokenKey == "" {
			return nil
		}
		now := time.Now().Unix()
		tok := &Token{UserID: root.ID, Key: creds.TokenKey, Status: TokenEnabled, Name: "Initial Root Token",
			CreatedTime: now, AccessedTime: now, ExpiredTime: -1, UnlimitedQuota: true}
		if err := tx.Create(tok).Error; err != nil {
			return fmt.Errorf("create root token: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return creds, nil
}
