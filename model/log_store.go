package model

import (
	"context"

	"gorm.io/gorm"
)

// LogFilter selects log rows; zero fields do not filter.
type LogFilter struct {
	UserID    int
	Type      int
	Username  string
	TokenName string
	ModelName string
	ChannelID int
	Start     int64 // created_at >= Start (unix seconds)
	End       int64 // created_at <= End
}

func (f LogFilter) apply(db *gorm.DB) *gorm.DB {
	if f.UserID != 0 {
		db = db.Where("user_id = ?", f.UserID)
	}
	if f.Type != 0 {
		db = db.Where("type = ?", f.Type)
	}
	if f.Username != "" {
		db = db.Where("username = ?", f.Username)
	}
	if f.TokenName != "" {
		db = db.Where("token_name = ?", f.TokenName)
	}
	if f.ModelName != "" {
		db = db.Where("model_name = ?", f.ModelName)
	}
	if f.ChannelID != 0 {
		db = db.Where("channel_id = ?", f.ChannelID)
	}
	if f.Start != 0 {
		db = db.Where("created_at >= ?", f.Start)
	}
	if f.End != 0 {
		db = db.Where("created_at <= ?", f.End)
	}
	return db
}

// ListLogs returns a page of the matching logs, newest first.
func (s *Store) ListLogs(ctx context.Context, f LogFilter, p Page) ([]Log, error) {
	var logs []Log
	db := f.apply(p.apply(s.logDB.WithContext(ctx)))
	if err := db.Order("id desc").Find(&logs).Error; err != nil {
		return nil, s.dbErr("list logs", err)
	}
	return logs, nil
}

// SumLogQuota adds up the quota of the matching logs.
func (s *Store) SumLogQuota(ctx context.Context, f LogFilter) (int64, error) {
	var sum int64
	db := f.apply(s.logDB.WithContext(ctx).Model(&Log{}))
	if err := db.Select("COALESCE(SUM(quota), 0)").Scan(&sum).Error; err != nil {
		return 0, s.dbErr("sum log quota", err)
	}
	return sum, nil
}

// DeleteLogsBefore deletes every log created before ts and returns how many.
func (s *Store) DeleteLogsBefore(ctx context.Context, ts int64) (int64, error) {
	res := s.logDB.WithContext(ctx).Where("created_at < ?", ts).Delete(&Log{})
	if res.Error != nil {
		return 0, s.dbErr("delete logs", res.Error)
	}
	return res.RowsAffected, nil
}
