package model

import (
	"context"
	"errors"
	"fmt"
	mysqldrv "github.com/go-sql-driver/mysql"
	"time"

	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"one-api/common"
)

// Store owns the database handles; it is the one door into the database:
// everything outside the storage packages goes through its methods (and a
// Tx inside QuotaAdmin's Apply/Credit), never through gorm
// (TestGormStaysInStorage keeps it so). logDB is db unless LOG_SQL_DSN
// moves logs to a database of their own.
type Store struct {
	db      *gorm.DB
	logDB   *gorm.DB
	Dialect string
	// SQLitePath is the database file when Dialect is "sqlite".
	SQLitePath string
	sqlite     *common.SQLiteConfig
}

// Gorm is the main database handle, for the storage packages (the quota
// ledgers and log writers built on it) and for tests that seed or inspect
// rows; other code calls the Store's methods.
func (s *Store) Gorm() *gorm.DB { return s.db }

// LogGorm is the log database's handle (Gorm's unless LOG_SQL_DSN is set),
// for the same callers as Gorm.
func (s *Store) LogGorm() *gorm.DB { return s.logDB }

// OpenConfig is what Open needs from the configuration.
type OpenConfig struct {
	SQLitePath     string
	SQLDSN         string
	LogSQLDSN      string
	SQLite         common.SQLiteConfig
	SQLMaxOpen     int
	SQLMaxIdle     int
	SQLMaxLifetime time.Duration
}

// OpenConfigFrom extracts the store's part of the configuration.
func OpenConfigFrom(c *common.Config) OpenConfig {
	return OpenConfig{
		SQLitePath: c.SQLitePath, SQLDSN: c.SQLDSN, LogSQLDSN: c.LogSQLDSN, SQLite: c.SQLite,
		SQLMaxOpen: c.SQLMaxOpen, SQLMaxIdle: c.SQLMaxIdle, SQLMaxLifetime: c.SQLMaxLifetime,
	}
}

func gormConfig() *gorm.Config {
	return &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
	}
}

// Open connects to the configured database. It does not migrate.
func Open(cfg OpenConfig) (*Store, error) {
	s := &Store{Dialect: common.DialectOf(cfg.SQLDSN)}
	var err error
	switch s.Dialect {
	case "sqlite":
		s.SQLitePath = cfg.SQLitePath
		sc := cfg.SQLite
		s.sqlite = &sc
		s.db, err = openSQLite(cfg.SQLitePath, cfg.SQLite, gormConfig())
	default:
		s.db, err = openSQL(cfg.SQLDSN, cfg)
	}
	if err != nil {
		return nil, err
	}
	s.logDB = s.db
	if cfg.LogSQLDSN != "" {
		if common.DialectOf(cfg.LogSQLDSN) == "sqlite" {
			return nil, errors.New("open log database: LOG_SQL_DSN must be a PostgreSQL or MySQL DSN")
		}
		if s.logDB, err = openSQL(cfg.LogSQLDSN, cfg); err != nil {
			return nil, fmt.Errorf("open log database: %w", err)
		}
	}
	return s, nil
}

func openSQL(dsn string, cfg OpenConfig) (*gorm.DB, error) {
	var dial gorm.Dialector
	switch common.DialectOf(dsn) {
	case "postgres":
		dial = postgres.New(postgres.Config{DSN: dsn, PreferSimpleProtocol: true})
	default:
		dial = mysql.Open(mysqlFoundRows(dsn))
	}
	db, err := gorm.Open(dial, gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", common.DialectOf(dsn), err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", common.DialectOf(dsn), err)
	}
	sqlDB.SetMaxOpenConns(cfg.SQLMaxOpen)
	sqlDB.SetMaxIdleConns(cfg.SQLMaxIdle)
	sqlDB.SetConnMaxLifetime(cfg.SQLMaxLifetime)
	return db, nil
}

// Migrate creates missing tables and columns. It only adds: a one-api
// database opens unchanged.
func (s *Store) Migrate(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	if err := db.AutoMigrate(&Channel{}, &Token{}, &User{}, &Option{}, &Redemption{}, &Ability{}); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := s.logDB.WithContext(ctx).AutoMigrate(&Log{}); err != nil {
		return fmt.Errorf("migrate logs: %w", err)
	}
	return nil
}

// Ping checks that the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close checkpoints SQLite's WAL and closes every handle.
func (s *Store) Close() error {
	var errs []error
	if s.Dialect == "sqlite" {
		if err := checkpointSQLite(s.db); err != nil {
			errs = append(errs, err)
		}
	}
	if s.logDB != s.db {
		if sqlDB, err := s.logDB.DB(); err == nil {
			errs = append(errs, sqlDB.Close())
		}
	}
	if sqlDB, err := s.db.DB(); err == nil {
		errs = append(errs, sqlDB.Close())
	}
	return errors.Join(errs...)
}

// mysqlFoundRows makes MySQL report the rows an UPDATE matched rather than
// the rows it changed, as SQLite and PostgreSQL do. Every conditional
// update here reads RowsAffected == 0 as "refused" or "not found": without
// it a reservation of 0 (a model priced at 0) or an admin write that keeps
// a row's values would be refused on MySQL only. A DSN the driver cannot
// parse is left as it is, so opening it reports the driver's own error.
func mysqlFoundRows(dsn string) string {
	cfg, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return dsn
	}
	cfg.ClientFoundRows = true
	return cfg.FormatDSN()
}
