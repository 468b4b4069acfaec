package model

import (
	"context"
	"errors"
	"testing"

	"one-api/internal/testdb"
)

// TestReserveOfZeroIsGranted: a model priced at 0 reserves nothing, and a
// user with quota left must be served on every dialect. MySQL counts only
// changed rows by default, so "quota = quota - 0" matched nothing there and
// free models were refused as "user quota is not enough".
func TestReserveOfZeroIsGranted(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		st := openDialectStore(t, dialect)
		f := seedLedger(t, st.Gorm())
		g := NewGroupLedger(st.Gorm(), st.LogGorm())
		t.Cleanup(func() { g.Close(context.Background()) })
		ledgers := map[string]QuotaLedger{"direct": NewDirectLedger(st.Gorm()), "group": g}
		for name, l := range ledgers {
			// users[1] holds 900; its first token 600.
			r := Reservation{UserID: f.users[1], TokenID: f.tokens[3].id, Amount: 0}
			if err := l.Reserve(ctx, r); err != nil {
				t.Errorf("%s: reserve 0 for a user with quota: %v", name, err)
			}
			// users[0] holds 0: refused as before, free model or not.
			r = Reservation{UserID: f.users[0], TokenID: f.tokens[0].id, Amount: 0}
			if err := l.Reserve(ctx, r); !errors.Is(err, ErrUserQuotaExhausted) {
				t.Errorf("%s: reserve 0 for a user without quota: %v, want ErrUserQuotaExhausted", name, err)
			}
		}
	})
}
