package ledger

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"one-api/common"
	"one-api/internal/testdb"
	"one-api/model"
)

func testRedis(t *testing.T) (*redis.Client, string) { return testdb.Redis(t) }

// seedAccount creates one user and one limited token with the balances.
func seedAccount(t *testing.T, s *model.Store, userQuota, tokenQuota int64) (userID, tokenID int) {
	t.Helper()
	u := &model.User{Username: "u" + common.RandomString(6), Password: "x", Quota: userQuota, Status: model.UserEnabled,
		AccessToken: common.RandomString(32), AffCode: common.RandomString(8)}
	if err := s.Gorm().Create(u).Error; err != nil {
		t.Fatal(err)
	}
	tok := &model.Token{UserID: u.ID, Key: common.RandomString(48), Status: model.TokenEnabled, Name: "t", ExpiredTime: -1, RemainQuota: tokenQuota}
	if err := s.Gorm().Create(tok).Error; err != nil {
		t.Fatal(err)
	}
	return u.ID, tok.ID
}

// node is one gateway node's ledger over the shared store and Redis.
func newRedisNode(t *testing.T, s *model.Store, rdb redis.Cmdable, prefix string) *Redis {
	t.Helper()
	b := NewBatch(s.Gorm(), BatchOptions{Interval: time.Hour})
	l, err := NewRedis(b, rdb, RedisOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

func readQuotas(t *testing.T, s *model.Store, userID, tokenID int) (quota, used, remain, tokenUsed int64) {
	t.Helper()
	var u model.User
	var tok model.Token
	if err := s.Gorm().First(&u, userID).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.Gorm().First(&tok, tokenID).Error; err != nil {
		t.Fatal(err)
	}
	return u.Quota, u.UsedQuota, tok.RemainQuota, tok.UsedQuota
}

// Two nodes, 16 clients each, spending one user's balance: together they
// reserve exactly the balance, never more (per-node balances would allow
// twice as much), and the database ends exact.
func TestRedisLedgerTwoNodesShareOneBalance(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *model.Store) {
		rdb, prefix := testRedis(t)
		ctx := context.Background()
		const balance, amount = 3000, 10
		userID, tokenID := seedAccount(t, s, balance, balance)
		nodes := []*Redis{newRedisNode(t, s, rdb, prefix), newRedisNode(t, s, rdb, prefix)}

		var mu sync.Mutex
		var reserved, charged int64
		var wg sync.WaitGroup
		for i := range 32 {
			l := nodes[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := model.Reservation{UserID: userID, TokenID: tokenID, Amount: amount}
				for n := 0; ; n++ {
					err := l.Reserve(ctx, r)
					if errors.Is(err, model.ErrUserQuotaExhausted) || errors.Is(err, model.ErrTokenQuotaExhausted) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
					// Every third request is refunded, the others cost 7 of 10.
					if n%3 == 0 {
						err = l.Release(ctx, r)
					} else {
						err = l.Settle(ctx, model.Settlement{Reservation: r, ChannelID: 0, Quota: 7})
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					reserved += amount
					if n%3 != 0 {
						charged += 7
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for _, l := range nodes {
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		quota, used, remain, tokenUsed := readQuotas(t, s, userID, tokenID)
		if used != charged || tokenUsed != charged {
			t.Errorf("used_quota user %d token %d, want %d", used, tokenUsed, charged)
		}
		if quota != balance-charged || remain != balance-charged {
			t.Errorf("quota %d remain %d, want %d", quota, remain, balance-charged)
		}
		// Spending stopped only once less than one reservation was left.
		if quota >= amount {
			t.Errorf("refused with %d left, more than one reservation of %d", quota, amount)
		}
		if quota < 0 {
			t.Errorf("balance went negative: %d", quota)
		}
		got, err := rdb.Get(ctx, prefix+"quota:user:"+strconv.Itoa(userID)).Int64()
		if err != nil || got != quota {
			t.Errorf("redis counter = %d (%v), database %d", got, err, quota)
		}
	})
}

// An admin's absolute edit on one node, while another node holds unflushed
// charges, ends as the value set: the charges made before it do not land on
// top, and the shared counter agrees with the database.
func TestRedisLedgerApplyRebasesAbsoluteEdit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *model.Store) {
		rdb, prefix := testRedis(t)
		ctx := context.Background()
		userID, tokenID := seedAccount(t, s, 10_000, 10_000)
		a, b := newRedisNode(t, s, rdb, prefix), newRedisNode(t, s, rdb, prefix)

		r := model.Reservation{UserID: userID, TokenID: tokenID, Amount: 100}
		for range 3 {
			if err := b.Reserve(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := b.Settle(ctx, model.Settlement{Reservation: r, Quota: 100}); err != nil {
				t.Fatal(err)
			}
		}
		err := a.Apply(ctx, func(x model.Tx) error {
			tx := x.Gorm()
			if err := tx.Model(&model.User{}).Where("id = ?", userID).Updates(map[string]any{"quota": 5000, "display_name": "x"}).Error; err != nil {
				return err
			}
			return tx.Model(&model.Token{}).Where("id = ?", tokenID).Select("remain_quota").Updates(&model.Token{RemainQuota: 2000}).Error
		})
		if err != nil {
			t.Fatal(err)
		}
		// After the edit: one more charge on each node.
		for _, l := range []*Redis{a, b} {
			if err := l.Reserve(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := l.Settle(ctx, model.Settlement{Reservation: r, Quota: 50}); err != nil {
				t.Fatal(err)
			}
		}
		for _, l := range []*Redis{a, b} {
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		quota, used, remain, tokenUsed := readQuotas(t, s, userID, tokenID)
		if quota != 4900 || remain != 1900 {
			t.Errorf("quota %d remain %d, want 4900 and 1900 (the values set, minus the charges after)", quota, remain)
		}
		if used != 400 || tokenUsed != 400 {
			t.Errorf("used_quota user %d token %d, want 400", used, tokenUsed)
		}
		for key, want := range map[string]int64{"quota:user:" + strconv.Itoa(userID): quota, "quota:token:" + strconv.Itoa(tokenID): remain} {
			if got, err := rdb.Get(ctx, prefix+key).Int64(); err != nil || got != want {
				t.Errorf("redis %s = %d (%v), want %d", key, got, err, want)
			}
		}
	})
}

// A counter lost (Redis restarted) is created again from the database plus
// this node's unflushed deltas.
func TestRedisLedgerRecreatesLostCounter(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *model.Store) {
		rdb, prefix := testRedis(t)
		ctx := context.Background()
		userID, tokenID := seedAccount(t, s, 1000, 1000)
		l := newRedisNode(t, s, rdb, prefix)
		r := model.Reservation{UserID: userID, TokenID: tokenID, Amount: 300}
		if err := l.Reserve(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := l.Settle(ctx, model.Settlement{Reservation: r, Quota: 300}); err != nil {
			t.Fatal(err)
		}
		if err := rdb.Del(ctx, prefix+"quota:user:"+strconv.Itoa(userID), prefix+"quota:token:"+strconv.Itoa(tokenID)).Err(); err != nil {
			t.Fatal(err)
		}
		big := model.Reservation{UserID: userID, TokenID: tokenID, Amount: 800}
		if err := l.Reserve(ctx, big); !errors.Is(err, model.ErrUserQuotaExhausted) {
			t.Fatalf("reserve 800 of 700 left = %v, want model.ErrUserQuotaExhausted", err)
		}
		if got, _ := rdb.Get(ctx, prefix+"quota:user:"+strconv.Itoa(userID)).Int64(); got != 700 {
			t.Errorf("recreated counter = %d, want 700 (1000 in the database, -300 unflushed)", got)
		}
	})
}

// With Redis unreachable the ledger checks this node's own balance, so the
// gateway keeps serving and still refuses what the balance cannot cover.
func TestRedisLedgerFallsBackWhenRedisFails(t *testing.T) {
	s := openPhaseBStore(t)
	ctx := context.Background()
	userID, tokenID := seedAccount(t, s, 500, 500)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	restore := common.SetLogOutput(&strings.Builder{})
	defer restore()
	l := newRedisNode(t, s, rdb, "x:")
	r := model.Reservation{UserID: userID, TokenID: tokenID, Amount: 400}
	if err := l.Reserve(ctx, r); err != nil {
		t.Fatalf("reserve with Redis down: %v", err)
	}
	if err := l.Reserve(ctx, r); !errors.Is(err, model.ErrUserQuotaExhausted) {
		t.Fatalf("second reserve = %v, want ErrUserQuotaExhausted from the local balance", err)
	}
	if st := l.Stats(); st.Fallbacks != 2 {
		t.Errorf("fallbacks = %d, want 2", st.Fallbacks)
	}
	if err := l.Release(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if q, _, _, _ := readQuotas(t, s, userID, tokenID); q != 500 {
		t.Errorf("quota after reserve+release = %d, want 500", q)
	}
}
