package gateway

import (
	"context"
	"database/sql"
	"fmt"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Ledger is what a stopped gateway left in its database: the consume logs
// and the user-side billing they should agree with.
type Ledger struct {
	ConsumeLogs   int64 `json:"consume_logs"`
	LogQuota      int64 `json:"log_quota"`
	UserUsedQuota int64 `json:"user_used_quota"`
	UserRequests  int64 `json:"user_request_count"`
}

// ReadLedger opens the SQLite file of a stopped gateway. Run it only after
// Stop: a batch still in memory is not in the file yet, which is exactly what
// the lost-log count is meant to catch.
func ReadLedger(dbPath string) (Ledger, error) {
	db, err := gorm.Open(sqlite.Open(dbPath), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		return Ledger{}, fmt.Errorf("open %s: %w", dbPath, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return Ledger{}, fmt.Errorf("open %s: %w", dbPath, err)
	}
	defer sqlDB.Close()
	return readLedger(context.Background(), sqlDB, "")
}

// readLedger runs the two ledger queries; schema is "" or "name." to
// qualify the tables.
func readLedger(ctx context.Context, db *sql.DB, schema string) (Ledger, error) {
	var l Ledger
	// type 2 is a consume log (compat.md, logs table).
	row := db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(quota), 0) FROM `+schema+`logs WHERE type = 2`)
	if err := row.Scan(&l.ConsumeLogs, &l.LogQuota); err != nil {
		return l, fmt.Errorf("count consume logs: %w", err)
	}
	row = db.QueryRowContext(ctx, `SELECT coalesce(sum(used_quota), 0), coalesce(sum(request_count), 0) FROM `+schema+`users`)
	if err := row.Scan(&l.UserUsedQuota, &l.UserRequests); err != nil {
		return l, fmt.Errorf("read user quota: %w", err)
	}
	return l, nil
}
