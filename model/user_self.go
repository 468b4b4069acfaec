package model

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// GetUserByAffCode returns the id and username of the user whose
// invitation code is code; nil when there is none.
func (s *Store) GetUserByAffCode(ctx context.Context, code string) (*User, error) {
	if code == "" {
		return nil, nil
	}
	var u User
	err := s.db.WithContext(ctx).Select("id", "username", "aff_code").Where("aff_code = ?", code).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && u.AffCode != code) {
		return nil, nil
	}
	if err != nil {
		return nil, s.dbErr("get user by aff code", err)
	}
	return &u, nil
}

// CreateUser is Store.CreateUser on the transaction (registration with an
// inviter's reward, under QuotaAdmin.Credit).
func (t Tx) CreateUser(u *User) error {
	if err := t.db.Create(u).Error; err != nil {
		return dbErrOn(t.db, "create user", err)
	}
	return nil
}

// InsertLog writes l on the transaction, which is on the log database only
// when Store.LogsInMainDB.
func (t Tx) InsertLog(l *Log) error {
	if err := t.db.Create(l).Error; err != nil {
		return dbErrOn(t.db, "insert log", err)
	}
	return nil
}

// DayModelUsage is one day × model of a user's consume logs. The JSON names
// are one-api's (its LogStatistic had no json tags), which consoles read.
type DayModelUsage struct {
	Day              string `json:"Day" gorm:"-"`
	DayStart         int64  `json:"-" gorm:"column:day_start"`
	ModelName        string `json:"ModelName" gorm:"column:model_name"`
	RequestCount     int64  `json:"RequestCount" gorm:"column:request_count"`
	Quota            int64  `json:"Quota" gorm:"column:quota"`
	PromptTokens     int64  `json:"PromptTokens" gorm:"column:prompt_tokens"`
	CompletionTokens int64  `json:"CompletionTokens" gorm:"column:completion_tokens"`
}

// UsageByDayAndModel sums userID's consume logs created in [start, end] per
// UTC day and model. The WHERE clause compares bare columns (user_id, type,
// created_at), so an index serves it (idx_logs_user_id or
// idx_created_at_type); the day is computed only for the rows found, with
// integer arithmetic every dialect shares.
func (s *Store) UsageByDayAndModel(ctx context.Context, userID int, start, end int64) ([]DayModelUsage, error) {
	var rows []DayModelUsage
	err := s.logDB.WithContext(ctx).Model(&Log{}).
		Select("created_at - created_at % 86400 AS day_start, model_name, COUNT(*) AS request_count, "+
			"COALESCE(SUM(quota), 0) AS quota, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, "+
			"COALESCE(SUM(completion_tokens), 0) AS completion_tokens").
		Where("user_id = ? AND type = ? AND created_at >= ? AND created_at <= ?", userID, LogConsume, start, end).
		Group("day_start, model_name").Order("day_start, model_name").Scan(&rows).Error
	if err != nil {
		return nil, s.dbErr("usage by day and model", err)
	}
	for i := range rows {
		rows[i].Day = unixDay(rows[i].DayStart)
	}
	return rows, nil
}

func unixDay(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.DateOnly) }
