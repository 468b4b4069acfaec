package model

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"one-api/internal/testdb"
)

// groupWork is request i of the test load: a reservation, its settlement
// (charging more or less than reserved) and its consume log.
func groupWork(f ledgerFixture, i int) (Reservation, Settlement, *Log) {
	tok := f.tokens[3+i%9]                                                                                // users 1..3 (user 0 has no quota)
	r := Reservation{UserID: tok.user, TokenID: tok.id, Unlimited: tok.unlimited, Amount: int64(1 + i%4)} // not 0: DirectLedger.Reserve of 0 fails on MySQL (affected rows)
	s := Settlement{Reservation: r, ChannelID: f.channels[i%2], Quota: int64(i % 5)}
	l := &Log{UserID: tok.user, Type: LogConsume, Quota: int(s.Quota), ChannelID: s.ChannelID,
		RequestID: fmt.Sprintf("req-%d", i), Username: fmt.Sprintf("u%d", i%3)}
	return r, s, l
}

// TestGroupLedgerMatchesDirectLedger: 64 concurrent requests through group
// commit leave every balance, counter and log exactly as the same requests
// one by one through DirectLedger and DirectLogSink.
func TestGroupLedgerMatchesDirectLedger(t *testing.T) {
	testdb.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		gst, dst := openDialectStore(t, dialect), openDialectStore(t, dialect)
		f := seedLedger(t, gst.Gorm())
		seedLedger(t, dst.Gorm())
		g := NewGroupLedger(gst.Gorm(), gst.LogGorm())
		direct, sink := NewDirectLedger(dst.Gorm()), NewDirectLogSink(dst.LogGorm())
		const n = 640
		var wg sync.WaitGroup
		for w := range 64 {
			wg.Go(func() {
				for i := w; i < n; i += 64 {
					r, s, l := groupWork(f, i)
					if err := g.Reserve(ctx, r); err != nil {
						t.Errorf("reserve %d: %v", i, err)
						continue
					}
					var err error
					switch i % 3 { // every entry point of the committer
					case 0:
						err = g.Bill(ctx, s, l)
					case 1:
						err = g.Settle(ctx, s)
						if err == nil {
							err = g.Record(ctx, l)
						}
					default:
						err = g.Bill(ctx, s, nil)
					}
					if err != nil {
						t.Errorf("bill %d: %v", i, err)
						continue
					}
					// Returned means committed: the row is there now.
					if i%3 != 2 && logsWithID(t, gst.Gorm(), l.RequestID) != 1 {
						t.Errorf("request %d returned before its log row was committed", i)
					}
				}
			})
		}
		wg.Wait()
		for i := range n {
			r, s, l := groupWork(f, i)
			if err := direct.Reserve(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := direct.Settle(ctx, s); err != nil {
				t.Fatal(err)
			}
			if i%3 != 2 {
				if err := sink.Record(ctx, l); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := g.Close(ctx); err != nil {
			t.Fatal(err)
		}
		compareLedgerStates(t, "group vs direct", readLedgerState(t, gst.Gorm()), readLedgerState(t, dst.Gorm()))
		var gotN, wantN, gotSum, wantSum int64
		gst.Gorm().Model(&Log{}).Count(&gotN)
		dst.Gorm().Model(&Log{}).Count(&wantN)
		gst.Gorm().Model(&Log{}).Select("COALESCE(SUM(quota),0)").Scan(&gotSum)
		dst.Gorm().Model(&Log{}).Select("COALESCE(SUM(quota),0)").Scan(&wantSum)
		if gotN != wantN || gotSum != wantSum {
			t.Errorf("logs: %d rows summing %d, want %d summing %d", gotN, gotSum, wantN, wantSum)
		}
	})
}

func logsWithID(t *testing.T, db *gorm.DB, requestID string) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&Log{}).Where("request_id = ?", requestID).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGroupLedgerBadRowFailsOnlyItsRequest: a log row the database refuses
// fails its own request's log, not the batch it was in, and its charge
// still lands.
func TestGroupLedgerBadRowFailsOnlyItsRequest(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		f := seedLedger(t, st.Gorm())
		if err := st.Gorm().Callback().Create().Before("gorm:create").Register("test:refuse", func(tx *gorm.DB) {
			var logs []*Log
			switch d := tx.Statement.Dest.(type) {
			case *[]*Log:
				logs = *d
			case []*Log:
				logs = d
			case *Log:
				logs = []*Log{d}
			}
			for _, l := range logs {
				if l.RequestID == "req-13" {
					tx.AddError(errInjected)
				}
			}
		}); err != nil {
			t.Fatal(err)
		}
		g := NewGroupLedger(st.Gorm(), st.LogGorm())
		defer g.Close(ctx)
		before := readLedgerState(t, st.Gorm())
		errs := make([]error, 32)
		var wg sync.WaitGroup
		var charged int64
		for i := range errs {
			_, s, _ := groupWork(f, i)
			charged += s.Quota
			wg.Go(func() {
				_, s, l := groupWork(f, i)
				errs[i] = g.Bill(ctx, s, l)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if got, want := err != nil, i == 13; got != want {
				t.Errorf("request %d: err = %v, want failure %t", i, err, want)
			}
			if got, want := logsWithID(t, st.Gorm(), fmt.Sprintf("req-%d", i)), int64(1); i != 13 && got != want {
				t.Errorf("request %d: %d log rows, want %d", i, got, want)
			}
		}
		after := readLedgerState(t, st.Gorm())
		var used int64
		for id, c := range after.channels {
			used += c - before.channels[id]
		}
		if used != charged {
			t.Errorf("channels charged %d, want %d (every request's settlement, the refused log's too)", used, charged)
		}
	})
}

// TestGroupLedgerConcurrentReservesAreExact: 64 concurrent reservations of
// 100 grant exactly what one-by-one conditional updates would, on the user
// balance, on the token balance, and when the token refuses what the user
// granted (the user gets it back).
func TestGroupLedgerConcurrentReservesAreExact(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *Store) {
		ctx := context.Background()
		f := seedLedger(t, st.Gorm())
		g := NewGroupLedger(st.Gorm(), st.LogGorm())
		defer g.Close(ctx)
		tests := []struct {
			name                 string
			tok                  ledgerToken
			wantGranted          int64
			wantUser, wantRemain int64
		}{
			{"token 600 of user 1e12", f.tokens[9], 6, 1<<40 - 600, 0},
			{"user 900, token 2500", f.tokens[4], 9, 0, 2500 - 900},
		}
		for _, tt := range tests {
			var granted atomic.Int64
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					switch err := g.Reserve(ctx, Reservation{UserID: tt.tok.user, TokenID: tt.tok.id, Amount: 100}); {
					case err == nil:
						granted.Add(1)
					case !errors.Is(err, ErrUserQuotaExhausted) && !errors.Is(err, ErrTokenQuotaExhausted):
						t.Errorf("%s: Reserve: %v", tt.name, err)
					}
				})
			}
			wg.Wait()
			s := readLedgerState(t, st.Gorm())
			if g := granted.Load(); g != tt.wantGranted {
				t.Errorf("%s: %d of 64 granted, want %d", tt.name, g, tt.wantGranted)
			}
			if got := s.users[tt.tok.user].Quota; got != tt.wantUser {
				t.Errorf("%s: user quota %d, want %d", tt.name, got, tt.wantUser)
			}
			if got := s.tokens[tt.tok.id].RemainQuota; got != tt.wantRemain {
				t.Errorf("%s: token remain %d, want %d", tt.name, got, tt.wantRemain)
			}
		}
		// User 2 (4000) on its 600 token: the token refuses what the user
		// granted, and the user gets it back.
		tok := f.tokens[6]
		var granted atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				if g.Reserve(ctx, Reservation{UserID: tok.user, TokenID: tok.id, Amount: 100}) == nil {
					granted.Add(1)
				}
			})
		}
		wg.Wait()
		s := readLedgerState(t, st.Gorm())
		if got, want := granted.Load(), int64(6); got != want {
			t.Errorf("token-limited: %d granted, want %d", got, want)
		}
		if got, want := s.users[tok.user].Quota, int64(4000-600); got != want {
			t.Errorf("token-limited: user quota %d, want %d (refused reservations returned)", got, want)
		}
	})
}
