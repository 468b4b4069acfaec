package model

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// DirectLogSink inserts each log row as it comes.
type DirectLogSink struct{ db *gorm.DB }

// NewDirectLogSink returns a sink writing through to db.
func NewDirectLogSink(db *gorm.DB) *DirectLogSink { return &DirectLogSink{db: db} }

// Record implements LogSink.
func (s *DirectLogSink) Record(ctx context.Context, l *Log) error {
	if err := s.db.WithContext(ctx).Create(l).Error; err != nil {
		return fmt.Errorf("insert log: %w", err)
	}
	return nil
}

// DiscardLogSink drops rows: LOG_CONSUME_ENABLED=false.
type DiscardLogSink struct{}

// Record implements LogSink.
func (DiscardLogSink) Record(context.Context, *Log) error { return nil }
