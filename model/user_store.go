package model

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// Sentinel errors of the admin queries (user_store.go, token_store.go,
// channel_store.go, log_store.go), checked with errors.Is.
var (
	ErrNotFound  = errors.New("not found")
	ErrDuplicate = errors.New("already exists")
)

// Page selects rows [Offset, Offset+Limit) of a list.
type Page struct {
	Offset int
	Limit  int
}

func (p Page) apply(db *gorm.DB) *gorm.DB {
	return db.Offset(p.Offset).Limit(p.Limit)
}

// dbErr wraps a query error with what was being done, mapping the
// dialect's not-found and unique-violation errors to ErrNotFound and
// ErrDuplicate. The dialector translates, so the store's shared gorm
// config does not need TranslateError.
func (s *Store) dbErr(what string, err error) error { return dbErrOn(s.db, what, err) }

// dbErrOn is dbErr for a handle without its Store (a Tx).
func dbErrOn(db *gorm.DB, what string, err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if t, ok := db.Dialector.(gorm.ErrorTranslator); ok && errors.Is(t.Translate(err), gorm.ErrDuplicatedKey) {
		return fmt.Errorf("%s: %w", what, ErrDuplicate)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// secretUserColumns are never read for list views.
var secretUserColumns = []string{"password", "access_token"}

// GetUser returns the whole users row, password hash and access token
// included; callers blank them before answering.
func (s *Store) GetUser(ctx context.Context, id int) (*User, error) {
	var u User
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, s.dbErr("get user", err)
	}
	return &u, nil
}

// GetUserByUsername returns the whole row of the named user.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*User, error) {
	var u User
	if err := s.db.WithContext(ctx).Where("username = ?", username).Take(&u).Error; err != nil {
		return nil, s.dbErr("get user by name", err)
	}
	return &u, nil
}

// GetUserByAccessToken returns the owner of an admin access token. An empty
// token never matches (rows without a token hold "" or NULL).
func (s *Store) GetUserByAccessToken(ctx context.Context, token string) (*User, error) {
	if token == "" {
		return nil, fmt.Errorf("get user by access token: %w", ErrNotFound)
	}
	var u User
	if err := s.db.WithContext(ctx).Where("access_token = ?", token).Take(&u).Error; err != nil {
		return nil, s.dbErr("get user by access token", err)
	}
	// Exact match only: see GetTokenAuth on collations and char padding.
	if strings.TrimRight(u.AccessToken, " ") != token {
		return nil, fmt.Errorf("get user by access token: %w", ErrNotFound)
	}
	return &u, nil
}

// ListUsers returns a page of users, newest first, without secrets.
func (s *Store) ListUsers(ctx context.Context, p Page) ([]User, error) {
	var users []User
	err := p.apply(s.db.WithContext(ctx)).Omit(secretUserColumns...).Order("id desc").Find(&users).Error
	if err != nil {
		return nil, s.dbErr("list users", err)
	}
	return users, nil
}

// SearchUsers finds users whose username, email or display name starts with
// keyword, or whose id is keyword, without secrets.
func (s *Store) SearchUsers(ctx context.Context, keyword string, p Page) ([]User, error) {
	like := keyword + "%"
	cond := s.db.Where("username LIKE ?", like).Or("email LIKE ?", like).Or("display_name LIKE ?", like)
	// Compared only when numeric: PostgreSQL refuses id = 'text'.
	if id, err := strconv.Atoi(keyword); err == nil {
		cond = cond.Or("id = ?", id)
	}
	var users []User
	err := p.apply(s.db.WithContext(ctx)).Omit(secretUserColumns...).Where(cond).Order("id desc").Find(&users).Error
	if err != nil {
		return nil, s.dbErr("search users", err)
	}
	return users, nil
}

// CreateUser inserts u (password already hashed); ErrDuplicate when the
// username, access token or aff code is taken.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if err := s.db.WithContext(ctx).Create(u).Error; err != nil {
		return s.dbErr("create user", err)
	}
	return nil
}

// UpdateUser sets the fields p names of user id (Tx.UpdateUser inside
// QuotaAdmin.Apply when p sets Quota). ErrNotFound when there is no such
// user.
func (s *Store) UpdateUser(ctx context.Context, id int, p UserPatch) error {
	return s.tx(ctx).UpdateUser(id, p)
}

// UpdateUser is Store.UpdateUser on the transaction: the quota ledger's
// Apply, which an absolute write to quota must go through.
func (t Tx) UpdateUser(id int, p UserPatch) error {
	tx := t.db
	columns := p.columns()
	if len(columns) == 0 {
		return nil
	}
	// Column names are quoted by gorm, so "group" is safe on every dialect.
	res := tx.Model(&User{}).Where("id = ?", id).Updates(columns)
	if res.Error != nil {
		return dbErrOn(tx, "update user", res.Error)
	}
	if res.RowsAffected == 0 {
		// MySQL reports 0 rows for an update that changes nothing; tell
		// that apart from a missing user (on tx: a second connection could
		// wait for the transaction's own lock).
		var u User
		if err := tx.Select("id").Where("id = ?", id).Take(&u).Error; err != nil {
			return dbErrOn(tx, "update user", err)
		}
	}
	return nil
}

// DeleteUser removes the users row, as one-api does (a hard delete); the
// user's tokens stop authenticating because their owner is gone.
func (s *Store) DeleteUser(ctx context.Context, id int) error {
	res := s.db.WithContext(ctx).Where("id = ?", id).Delete(&User{})
	if res.Error != nil {
		return s.dbErr("delete user", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete user: %w", ErrNotFound)
	}
	return nil
}
