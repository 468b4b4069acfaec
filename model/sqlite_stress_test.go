package model

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
)

// stressDuration is how long the concurrent writers run: short in normal
// runs, SQLITE_STRESS_SECONDS (the 10) when set.
func stressDuration(t *testing.T) time.Duration {
	v := os.Getenv("SQLITE_STRESS_SECONDS")
	if v == "" {
		return 2 * time.Second
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("SQLITE_STRESS_SECONDS=%q: want a positive number of seconds", v)
	}
	return time.Duration(n) * time.Second
}

// TestSQLiteConcurrentWriters runs 256 writers doing what the relay does
// (quota decrements as plain autocommit UPDATEs, consume-log INSERTs, and
// both in one transaction) alongside reads, and wants not one error, then
// checks that every decrement landed.
func TestSQLiteConcurrentWriters(t *testing.T) {
	const writers, users = 256, 16
	const initialQuota = 1 << 40
	d := stressDuration(t)
	for _, env := range []map[string]string{
		nil, // WAL / NORMAL
		{"SQLITE_OPTIMIZE_ENABLED": "false", "SQLITE_JOURNAL_MODE": "DELETE"}, // rollback / FULL
	} {
		t.Run(fmt.Sprint(env), func(t *testing.T) {
			s, _ := openSQLiteStore(t, filepath.Join(t.TempDir(), "one-api.db"), sqliteConfig(t, env))
			defer s.Close()
			for i := range users {
				u := User{Username: fmt.Sprintf("u%d", i), AccessToken: fmt.Sprintf("a%d", i), AffCode: fmt.Sprintf("c%d", i), Quota: initialQuota}
				if err := s.db.Create(&u).Error; err != nil {
					t.Fatal(err)
				}
			}

			var decrements, ops, failures atomic.Int64
			var firstErr atomic.Value
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ctx.Err() == nil; i++ {
						dec, err := stressOp(s.db, (w+i)%4, 1+(w+i)%users)
						ops.Add(1)
						if err != nil {
							failures.Add(1)
							firstErr.CompareAndSwap(nil, fmt.Errorf("op %d: %w", (w+i)%4, err))
							continue
						}
						decrements.Add(dec)
					}
				}()
			}
			wg.Wait()

			if n := failures.Load(); n > 0 {
				t.Fatalf("%d of %d operations failed; first: %v", n, ops.Load(), firstErr.Load())
			}
			var sum int64
			if err := s.db.Model(&User{}).Select("COALESCE(SUM(quota), 0)").Scan(&sum).Error; err != nil {
				t.Fatal(err)
			}
			if g, w := sum, int64(users*initialQuota)-decrements.Load(); g != w {
				t.Errorf("total quota = %d, want %d (%d decrements)", g, w, decrements.Load())
			}
			t.Logf("%d operations in %s, %d quota decrements", ops.Load(), d, decrements.Load())
		})
	}
}

// stressOp does one operation of the mix and returns the quota it took.
func stressOp(db *gorm.DB, op, userID int) (int64, error) {
	decrement := func(tx *gorm.DB) error {
		return tx.Model(&User{}).Where("id = ?", userID).Updates(map[string]any{
			"quota": gorm.Expr("quota - 1"), "used_quota": gorm.Expr("used_quota + 1"), "request_count": gorm.Expr("request_count + 1"),
		}).Error
	}
	logRow := func(tx *gorm.DB) error {
		return tx.Create(&Log{UserID: userID, CreatedAt: time.Now().Unix(), Type: LogConsume, Content: "stress", ModelName: "gpt-4o", Quota: 1}).Error
	}
	switch op {
	case 0:
		return 1, decrement(db)
	case 1:
		return 0, logRow(db)
	case 2:
		// Read, then write, in one transaction: a deferred BEGIN would hold a
		// read lock (or WAL snapshot) it cannot upgrade while another writer
		// commits, and SQLite answers "database is locked" without waiting.
		return 1, db.Transaction(func(tx *gorm.DB) error {
			var u User
			if err := tx.First(&u, userID).Error; err != nil {
				return err
			}
			if err := decrement(tx); err != nil {
				return err
			}
			return logRow(tx)
		})
	default:
		var u User
		return 0, db.First(&u, userID).Error
	}
}
