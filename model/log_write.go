package model

import "context"

// Log rows the admin API writes itself (top-ups, registration rewards),
// always, as one-api does: LogConsumeEnabled governs consume logs only.

// InsertLog writes l to the log database.
func (s *Store) InsertLog(ctx context.Context, l *Log) error {
	if err := s.logDB.WithContext(ctx).Create(l).Error; err != nil {
		return s.dbErr("insert log", err)
	}
	return nil
}

// LogsInMainDB reports whether logs live in the main database (no
// LOG_SQL_DSN), so a log row can join the transaction of what it records.
func (s *Store) LogsInMainDB() bool { return s.logDB == s.db }
