package testdb

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"one-api/common"
)

// RedisURLVar names the Redis tests may use, e.g. redis://127.0.0.1:6379/0.
const RedisURLVar = "TEST_REDIS_URL"

// Redis connects to TEST_REDIS_URL (or skips the test when it is unset) and
// returns a key prefix of the test's own; the keys under it are deleted at
// cleanup, nobody else's.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := redisURL()
	if url == "" {
		t.Skip(RedisURLVar + " not set")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("%s: %v", RedisURLVar, err)
	}
	rdb := redis.NewClient(opt)
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		t.Fatalf("redis at %s: %v", url, err)
	}
	prefix := "oneapi_t_" + strings.ToLower(common.RandomString(10)) + ":"
	t.Cleanup(func() {
		iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return rdb, prefix
}
