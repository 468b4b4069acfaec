package ledger

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"

	"one-api/model"
)

// A credit (quota = quota + n, e.g. a redeemed code) on one node while both
// nodes hold unflushed charges: the shared balance grows by exactly n at
// once, nobody's charges are lost, and the database ends equal to it. A
// credit whose transaction fails moves nothing.
func TestRedisLedgerCreditKeepsEveryNodesCharges(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *model.Store) {
		rdb, prefix := testRedis(t)
		ctx := context.Background()
		userID, tokenID := seedAccount(t, s, 1000, 1000)
		a, b := newRedisNode(t, s, rdb, prefix), newRedisNode(t, s, rdb, prefix)
		r := model.Reservation{UserID: userID, TokenID: tokenID, Amount: 100}
		for _, l := range []*Redis{a, b} {
			if err := l.Reserve(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := l.Settle(ctx, model.Settlement{Reservation: r, Quota: 60}); err != nil {
				t.Fatal(err)
			}
		}
		counter := func() int64 {
			t.Helper()
			v, err := rdb.Get(ctx, a.key(accountID{userKind, userID})).Int64()
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		if g, w := counter(), int64(1000-120); g != w {
			t.Fatalf("shared balance = %d before the credit, want %d", g, w)
		}

		err := b.Credit(ctx, userID, func(x model.Tx) (int64, error) {
			tx := x.Gorm()
			return 500, tx.Model(&model.User{}).Where("id = ?", userID).Update("quota", gorm.Expr("quota + ?", 500)).Error
		})
		if err != nil {
			t.Fatal(err)
		}
		if g, w := counter(), int64(1000-120+500); g != w {
			t.Errorf("shared balance = %d after the credit, want %d", g, w)
		}

		boom := errors.New("boom")
		err = a.Credit(ctx, userID, func(x model.Tx) (int64, error) {
			tx := x.Gorm()
			if err := tx.Model(&model.User{}).Where("id = ?", userID).Update("quota", gorm.Expr("quota + ?", 70)).Error; err != nil {
				return 0, err
			}
			return 70, boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("failed credit returned %v, want boom", err)
		}
		if g, w := counter(), int64(1000-120+500); g != w {
			t.Errorf("shared balance = %d after a failed credit, want %d", g, w)
		}

		for _, l := range []*Redis{a, b} {
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if quota, _, _, _ := readQuotas(t, s, userID, tokenID); quota != counter() {
			t.Errorf("database quota = %d after the flushes, want the shared balance %d", quota, counter())
		}
	})
}
