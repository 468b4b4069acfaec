package model

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// DirectLedger applies every quota movement to the database at once, in one
// transaction, with conditional updates so a balance never goes negative.
type DirectLedger struct{ db *gorm.DB }

// NewDirectLedger returns a ledger writing through to db.
func NewDirectLedger(db *gorm.DB) *DirectLedger { return &DirectLedger{db: db} }

// Reserve implements QuotaLedger.
func (l *DirectLedger) Reserve(ctx context.Context, r Reservation) error {
	return l.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("id = ? AND quota >= ? AND quota > 0", r.UserID, r.Amount).
			Update("quota", gorm.Expr("quota - ?", r.Amount))
		if res.Error != nil {
			return fmt.Errorf("reserve user quota: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrUserQuotaExhausted
		}
		if r.Unlimited {
			return nil
		}
		res = tx.Model(&Token{}).Where("id = ? AND remain_quota >= ? AND remain_quota > 0", r.TokenID, r.Amount).
			Update("remain_quota", gorm.Expr("remain_quota - ?", r.Amount))
		if res.Error != nil {
			return fmt.Errorf("reserve token quota: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrTokenQuotaExhausted
		}
		return nil
	})
}

// Settle implements QuotaLedger.
func (l *DirectLedger) Settle(ctx context.Context, s Settlement) error {
	delta := s.Quota - s.Amount
	return l.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&User{}).Where("id = ?", s.UserID).Updates(map[string]any{
			"quota":         gorm.Expr("quota - ?", delta),
			"used_quota":    gorm.Expr("used_quota + ?", s.Quota),
			"request_count": gorm.Expr("request_count + ?", 1),
		}).Error; err != nil {
			return fmt.Errorf("settle user quota: %w", err)
		}
		if !s.Unlimited {
			if err := tx.Model(&Token{}).Where("id = ?", s.TokenID).Updates(map[string]any{
				"remain_quota": gorm.Expr("remain_quota - ?", delta),
				"used_quota":   gorm.Expr("used_quota + ?", s.Quota),
			}).Error; err != nil {
				return fmt.Errorf("settle token quota: %w", err)
			}
		}
		if s.ChannelID != 0 && s.Quota != 0 {
			if err := tx.Model(&Channel{}).Where("id = ?", s.ChannelID).
				Update("used_quota", gorm.Expr("used_quota + ?", s.Quota)).Error; err != nil {
				return fmt.Errorf("settle channel quota: %w", err)
			}
		}
		return nil
	})
}

// Release implements QuotaLedger.
func (l *DirectLedger) Release(ctx context.Context, r Reservation) error {
	if r.Amount == 0 {
		return nil
	}
	return l.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&User{}).Where("id = ?", r.UserID).
			Update("quota", gorm.Expr("quota + ?", r.Amount)).Error; err != nil {
			return fmt.Errorf("release user quota: %w", err)
		}
		if r.Unlimited {
			return nil
		}
		if err := tx.Model(&Token{}).Where("id = ?", r.TokenID).
			Update("remain_quota", gorm.Expr("remain_quota + ?", r.Amount)).Error; err != nil {
			return fmt.Errorf("release token quota: %w", err)
		}
		return nil
	})
}

// Apply implements QuotaAdmin: every movement is already in the database,
// so the write only needs a transaction of its own.
func (l *DirectLedger) Apply(ctx context.Context, write func(tx Tx) error) error {
	return l.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return write(NewTx(tx)) })
}

// Pending implements QuotaAdmin: nothing is ever pending.
func (l *DirectLedger) Pending(int) UserDelta { return UserDelta{} }

// PendingToken implements QuotaAdmin.
func (l *DirectLedger) PendingToken(int) TokenDelta { return TokenDelta{} }

// PendingChannel implements QuotaAdmin.
func (l *DirectLedger) PendingChannel(int) int64 { return 0 }

// Forget implements QuotaAdmin: no balance is held in memory.
func (l *DirectLedger) Forget(int) {}

// ForgetToken implements QuotaAdmin.
func (l *DirectLedger) ForgetToken(int) {}

// Credit implements QuotaAdmin: the write has its own transaction.
func (l *DirectLedger) Credit(ctx context.Context, _ int, write func(tx Tx) (int64, error)) error {
	return l.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		_, err := write(NewTx(tx))
		return err
	})
}

var _ QuotaAdmin = (*DirectLedger)(nil)
