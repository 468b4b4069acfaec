package model

import (
	"context"

	"gorm.io/gorm"
)

// EnabledChannels returns every enabled channel, keys included (for tests
// and balance checks that call the upstream), by id.
func (s *Store) EnabledChannels(ctx context.Context) ([]Channel, error) {
	var chs []Channel
	if err := s.db.WithContext(ctx).Where("status = ?", ChannelEnabled).Order("id").Find(&chs).Error; err != nil {
		return nil, s.dbErr("list enabled channels", err)
	}
	return chs, nil
}

// RecordChannelTest stores a channel test's outcome: when (unix seconds)
// and how long the answer took (ms). A channel deleted meanwhile is no
// error.
func (s *Store) RecordChannelTest(ctx context.Context, id int, at, ms int64) error {
	err := s.db.WithContext(ctx).Model(&Channel{}).Where("id = ?", id).
		Updates(map[string]any{"test_time": at, "response_time": ms}).Error
	if err != nil {
		return s.dbErr("record channel test", err)
	}
	return nil
}

// SetChannelBalance stores a channel's upstream balance and when it was read.
func (s *Store) SetChannelBalance(ctx context.Context, id int, balance float64, at int64) error {
	err := s.db.WithContext(ctx).Model(&Channel{}).Where("id = ?", id).
		Updates(map[string]any{"balance": balance, "balance_updated_time": at}).Error
	if err != nil {
		return s.dbErr("set channel balance", err)
	}
	return nil
}

// DeleteDisabledChannels removes every disabled channel (by hand or
// automatically) and its abilities in one transaction, and returns how
// many channels went. (one-api left their abilities behind.)
func (s *Store) DeleteDisabledChannels(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		disabled := tx.Model(&Channel{}).Select("id").Where("status IN ?", []int{ChannelManuallyDisabled, ChannelAutoDisabled})
		if err := tx.Where("channel_id IN (?)", disabled).Delete(&Ability{}).Error; err != nil {
			return err
		}
		res := tx.Where("status IN ?", []int{ChannelManuallyDisabled, ChannelAutoDisabled}).Delete(&Channel{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, s.dbErr("delete disabled channels", err)
	}
	return n, nil
}
