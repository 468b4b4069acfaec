package gateway

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

func TestWithQuery(t *testing.T) {
	tests := []struct {
		name, raw, key, value, want string
		wantErr                     bool
	}{
		{"adds", "postgres://u@h:5432/db?sslmode=disable", "search_path", "bench_x", "postgres://u@h:5432/db?search_path=bench_x&sslmode=disable", false},
		{"replaces", "redis://h:6379/0?key_prefix=old:", "key_prefix", "bench_x:", "redis://h:6379/0?key_prefix=bench_x%3A", false},
		{"keeps the password", "postgres://u:secret@h/db", "search_path", "s", "postgres://u:secret@h/db?search_path=s", false},
		{"not a URL", "host=h dbname=db", "search_path", "s", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withQuery(tt.raw, tt.key, tt.value)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := withQuery("postgres://u:secret@h:bad/db", "k", "v"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error %v: want one without the password", err)
	}
}

func TestRedact(t *testing.T) {
	for raw, want := range map[string]string{
		"postgres://u:secret@h/db": "postgres://u:xxxxx@h/db",
		"redis://h:6379/0":         "redis://h:6379/0",
		"redis://:pw@h:6379/0":     "redis://:xxxxx@h:6379/0",
	} {
		if got := Redact(raw); got != want {
			t.Errorf("Redact(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestSharedAgainstServices runs on the real PostgreSQL and Redis: a fresh
// schema is created, the ledger is read from it, and Drop leaves nothing.
func TestSharedAgainstServices(t *testing.T) {
	pg, rurl := os.Getenv("TEST_POSTGRES_DSN"), os.Getenv("TEST_REDIS_URL")
	if pg == "" || rurl == "" {
		t.Skip("needs TEST_POSTGRES_DSN and TEST_REDIS_URL")
	}
	ctx := context.Background()
	s, err := NewShared(ctx, pg, rurl)
	if err != nil {
		t.Fatalf("NewShared: %v", err)
	}
	defer s.Close()
	env := strings.Join(s.Env(), "\n")
	for _, want := range []string{"search_path=" + s.Schema, "key_prefix=" + s.Schema + "%3A", "SQL_MAX_OPEN_CONNS=32"} {
		if !strings.Contains(env, want) {
			t.Errorf("env %q lacks %q", env, want)
		}
	}

	// What a gateway would have left, written through the node's DSN so
	// that search_path is what puts it in the schema.
	node, err := gorm.Open(postgres.Open(s.DSN), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		t.Fatal(err)
	}
	nodeDB, _ := node.DB()
	defer nodeDB.Close()
	for _, q := range []string{
		"CREATE TABLE logs (type int, quota bigint)",
		"CREATE TABLE users (used_quota bigint, request_count bigint)",
		"INSERT INTO logs VALUES (2, 10), (2, 5), (1, 100)",
		"INSERT INTO users VALUES (15, 2)",
	} {
		if err := node.Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	opt, err := redis.ParseURL(rurl)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Set(ctx, s.Schema+":quota:user:1", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}

	l, err := s.ReadLedger(ctx)
	if err != nil {
		t.Fatalf("ReadLedger: %v", err)
	}
	if g, w := l, (Ledger{ConsumeLogs: 2, LogQuota: 15, UserUsedQuota: 15, UserRequests: 2}); g != w {
		t.Errorf("ledger = %+v, want %+v", g, w)
	}

	if err := s.Drop(ctx); err != nil {
		t.Fatalf("Drop: %v", err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", s.Schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("schema %s still exists after Drop", s.Schema)
	}
	if keys, err := rdb.Keys(ctx, s.Schema+":*").Result(); err != nil || len(keys) != 0 {
		t.Errorf("redis keys after Drop = %q, %v; want none", keys, err)
	}
}
