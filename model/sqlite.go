package model

import (
	"fmt"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"

	"one-api/common"
)

// openSQLite opens the SQLite file with every pooled connection set up alike.
func openSQLite(path string, cfg common.SQLiteConfig, gcfg *gorm.Config) (*gorm.DB, error) {
	dsn := fmt.Sprintf("file:%s?_busy_timeout=%d&_txlock=immediate&_journal_mode=%s&_synchronous=%s", path, cfg.BusyTimeout, cfg.JournalMode, cfg.Synchronous)
	db, err := gorm.Open(sqlite.Open(dsn), gcfg)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(cfg.MaxOpenConns)
	sqlDB.SetMaxIdleConns(cfg.MaxIdleConns)
	return db, nil
}

// checkpointSQLite folds the WAL back into the database file on a clean stop.
func checkpointSQLite(db *gorm.DB) error {
	if err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error; err != nil {
		return fmt.Errorf("wal checkpoint: %w", err)
	}
	return nil
}
