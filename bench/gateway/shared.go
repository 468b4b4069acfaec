package gateway

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Shared is a PostgreSQL schema and a Redis key prefix of their own (the
// same name for both), for the gateway nodes of one arm in one round: nodes
// on one database and one Redis as issue 9 runs them, without a round seeing
// the rows or the quota counters another round left behind.
type Shared struct {
	Schema   string
	DSN      string // the caller's DSN with search_path set to Schema
	RedisURL string // the caller's URL with key_prefix "Schema:"; "" without Redis

	db    *sql.DB // the caller's DSN: creates and drops the schema, reads the ledger
	redis string  // the caller's URL without key_prefix, for the clean-up
}

// Node pool sizes: two nodes plus the harness stay well under PostgreSQL's
// default max_connections of 100, which other users of the server share.
const (
	sharedMaxOpen = 32
	sharedMaxIdle = 16
)

// NewShared creates a fresh schema in the PostgreSQL database at dsn (a
// postgres:// URL) and names the Redis key prefix after it; redisURL may be
// empty.
func NewShared(ctx context.Context, dsn, redisURL string) (*Shared, error) {
	suffix, err := randomHex(5)
	if err != nil {
		return nil, err
	}
	s := &Shared{Schema: "bench_" + suffix}
	if s.DSN, err = withQuery(dsn, "search_path", s.Schema); err != nil {
		return nil, fmt.Errorf("-sql-dsn: %w", err)
	}
	if redisURL != "" {
		if s.RedisURL, err = withQuery(redisURL, "key_prefix", s.Schema+":"); err != nil {
			return nil, fmt.Errorf("-redis: %w", err)
		}
		if s.redis, err = withoutQuery(redisURL, "key_prefix"); err != nil {
			return nil, fmt.Errorf("-redis: %w", err)
		}
	}
	gdb, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if s.db, err = gdb.DB(); err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s.db.SetMaxOpenConns(1)
	if _, err := s.db.ExecContext(ctx, "CREATE SCHEMA "+s.Schema); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("create schema %s: %w", s.Schema, err)
	}
	return s, nil
}

// Env is what every node on s needs but NODE_TYPE.
func (s *Shared) Env() []string {
	env := []string{
		"SQL_DSN=" + s.DSN,
		fmt.Sprintf("SQL_MAX_OPEN_CONNS=%d", sharedMaxOpen),
		fmt.Sprintf("SQL_MAX_IDLE_CONNS=%d", sharedMaxIdle),
	}
	if s.RedisURL != "" {
		env = append(env, "REDIS_CONN_STRING="+s.RedisURL)
	}
	return env
}

// ReadLedger reads what the nodes left in the schema. As with the SQLite
// ReadLedger, call it only after every node has stopped.
func (s *Shared) ReadLedger(ctx context.Context) (Ledger, error) {
	// The schema name is ours (bench_ and hex), safe to splice in.
	return readLedger(ctx, s.db, s.Schema+".")
}

// Drop removes the schema and every Redis key under the prefix.
func (s *Shared) Drop(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, "DROP SCHEMA "+s.Schema+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", s.Schema, err)
	}
	if s.redis == "" {
		return nil
	}
	opt, err := redis.ParseURL(s.redis)
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, s.Schema+":*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("redis scan %s:*: %w", s.Schema, err)
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			return fmt.Errorf("redis del %s:*: %w", s.Schema, err)
		}
	}
	return nil
}

// Close releases the harness's own connection; the schema stays unless
// Drop ran.
func (s *Shared) Close() error { return s.db.Close() }

// withQuery sets one query parameter of a URL-form connection string.
func withQuery(raw, key, value string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole string, password included.
		return "", fmt.Errorf("%s: not a URL", Redact(raw))
	}
	if u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("%q: want a URL such as scheme://host:port/...", Redact(raw))
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func withoutQuery(raw, key string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%s: not a URL", Redact(raw))
	}
	q := u.Query()
	q.Del(key)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Redact hides the password of a connection URL, for reports and errors.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if err != nil && strings.Contains(raw, "@") {
			return "(unparsable URL)"
		}
		return raw
	}
	return u.Redacted()
}
