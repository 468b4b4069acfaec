package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"gorm.io/gorm"

	"one-api/model"
)

type ledgerToken struct {
	id, user  int
	unlimited bool
}

type ledgerFixture struct {
	users    []int
	tokens   []ledgerToken
	channels []int
}

// seedLedger gives db users with short and long balances, limited and
// unlimited tokens, and channels; the same calls on two fresh databases give
// the same ids.
func seedLedger(t testing.TB, db *gorm.DB) ledgerFixture {
	t.Helper()
	var f ledgerFixture
	for i, q := range []int64{0, 900, 4000, 1 << 40} {
		u := &model.User{Username: fmt.Sprintf("u%d", i), Password: "x", Status: model.UserEnabled, Quota: q,
			Group: "default", AccessToken: fmt.Sprintf("at%d", i), AffCode: fmt.Sprintf("aff%d", i)}
		if err := db.Create(u).Error; err != nil {
			t.Fatalf("seed user: %v", err)
		}
		f.users = append(f.users, u.ID)
		for j, remain := range []int64{600, 2500, 0} {
			tok := &model.Token{UserID: u.ID, Key: fmt.Sprintf("k%d-%d", i, j), Status: model.TokenEnabled, ExpiredTime: -1,
				RemainQuota: remain, UnlimitedQuota: j == 2}
			if err := db.Create(tok).Error; err != nil {
				t.Fatalf("seed token: %v", err)
			}
			f.tokens = append(f.tokens, ledgerToken{id: tok.ID, user: u.ID, unlimited: tok.UnlimitedQuota})
		}
	}
	for i := range 2 {
		ch := &model.Channel{Name: fmt.Sprintf("ch%d", i), Key: "sk", Status: model.ChannelEnabled}
		if err := db.Create(ch).Error; err != nil {
			t.Fatalf("seed channel: %v", err)
		}
		f.channels = append(f.channels, ch.ID)
	}
	return f
}

type ledgerState struct {
	users    map[int]model.UserDelta  // quota, used_quota, request_count
	tokens   map[int]model.TokenDelta // remain_quota, used_quota
	channels map[int]int64
}

func readLedgerState(t testing.TB, db *gorm.DB) ledgerState {
	t.Helper()
	s := ledgerState{users: map[int]model.UserDelta{}, tokens: map[int]model.TokenDelta{}, channels: map[int]int64{}}
	var users []model.User
	var tokens []model.Token
	var channels []model.Channel
	if err := errors.Join(db.Find(&users).Error, db.Find(&tokens).Error, db.Find(&channels).Error); err != nil {
		t.Fatalf("read state: %v", err)
	}
	for _, u := range users {
		s.users[u.ID] = model.UserDelta{Quota: u.Quota, UsedQuota: u.UsedQuota, RequestCount: int64(u.RequestCount)}
	}
	for _, tk := range tokens {
		s.tokens[tk.ID] = model.TokenDelta{RemainQuota: tk.RemainQuota, UsedQuota: tk.UsedQuota}
	}
	for _, c := range channels {
		s.channels[c.ID] = c.UsedQuota
	}
	return s
}

func compareLedgerStates(t *testing.T, label string, got, want ledgerState) {
	t.Helper()
	for id, w := range want.users {
		if g := got.users[id]; g != w {
			t.Errorf("%s: user %d = %+v, want %+v", label, id, g, w)
		}
	}
	for id, w := range want.tokens {
		if g := got.tokens[id]; g != w {
			t.Errorf("%s: token %d = %+v, want %+v", label, id, g, w)
		}
	}
	for id, w := range want.channels {
		if g := got.channels[id]; g != w {
			t.Errorf("%s: channel %d used_quota = %d, want %d", label, id, g, w)
		}
	}
}

// withPending is what the API shows: the row plus the unflushed deltas.
func withPending(s ledgerState, l *Batch) ledgerState {
	out := ledgerState{users: map[int]model.UserDelta{}, tokens: map[int]model.TokenDelta{}, channels: map[int]int64{}}
	for id, u := range s.users {
		p := l.Pending(id)
		out.users[id] = model.UserDelta{Quota: u.Quota + p.Quota, UsedQuota: u.UsedQuota + p.UsedQuota, RequestCount: u.RequestCount + p.RequestCount}
	}
	for id, tk := range s.tokens {
		p := l.PendingToken(id)
		out.tokens[id] = model.TokenDelta{RemainQuota: tk.RemainQuota + p.RemainQuota, UsedQuota: tk.UsedQuota + p.UsedQuota}
	}
	for id, used := range s.channels {
		out.channels[id] = used + l.PendingChannel(id)
	}
	return out
}

func sameOutcome(a, b error) bool {
	for _, s := range []error{model.ErrUserQuotaExhausted, model.ErrTokenQuotaExhausted} {
		if errors.Is(a, s) || errors.Is(b, s) {
			return errors.Is(a, s) && errors.Is(b, s)
		}
	}
	return a == nil && b == nil
}

// TestBatchLedgerMatchesDirect runs one random sequence of Reserve, Settle,
// Release, flushes, reloads and admin writes through DirectLedger on one
// database and BatchLedger on another: every call must decide alike, the
// API view (row + Pending) must agree at all times, and after a flush the
// rows must be equal.
func TestBatchLedgerMatchesDirect(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			ctx := context.Background()
			dst, bst := openPhaseBStore(t), openPhaseBStore(t)
			f := seedLedger(t, dst.Gorm())
			seedLedger(t, bst.Gorm())
			direct := NewDirect(dst.Gorm())
			batch := newTestBatchLedger(t, bst.Gorm(), nil)
			rng := rand.New(rand.NewPCG(seed, 42))
			var open []model.Reservation
			refused := 0

			for step := range 400 {
				switch p := rng.IntN(100); {
				case p < 40:
					tk := f.tokens[rng.IntN(len(f.tokens))]
					r := model.Reservation{UserID: tk.user, TokenID: tk.id, Unlimited: tk.unlimited, Amount: rng.Int64N(700)}
					if rng.IntN(8) == 0 {
						r.Amount = 0 // refused at a zero or negative balance all the same
					}
					ed, eb := direct.Reserve(ctx, r), batch.Reserve(ctx, r)
					if !sameOutcome(ed, eb) {
						t.Fatalf("step %d: Reserve(%+v): direct %v, batch %v", step, r, ed, eb)
					}
					if ed == nil {
						open = append(open, r)
					} else {
						refused++
					}
				case p < 70 && len(open) > 0:
					i := rng.IntN(len(open))
					s := model.Settlement{Reservation: open[i], ChannelID: rng.IntN(len(f.channels) + 1), Quota: rng.Int64N(900)}
					open = append(open[:i], open[i+1:]...)
					if err := errors.Join(direct.Settle(ctx, s), batch.Settle(ctx, s)); err != nil {
						t.Fatalf("step %d: Settle: %v", step, err)
					}
				case p < 80 && len(open) > 0:
					i := rng.IntN(len(open))
					r := open[i]
					open = append(open[:i], open[i+1:]...)
					if err := errors.Join(direct.Release(ctx, r), batch.Release(ctx, r)); err != nil {
						t.Fatalf("step %d: Release: %v", step, err)
					}
				case p < 86:
					if err := batch.Flush(ctx); err != nil {
						t.Fatalf("step %d: Flush: %v", step, err)
					}
				case p < 90:
					batch.Forget(f.users[rng.IntN(len(f.users))])
					batch.ForgetToken(f.tokens[rng.IntN(len(f.tokens))].id)
				case p < 94: // top-up: a relative write, then Forget
					tk := f.tokens[rng.IntN(len(f.tokens))]
					add := rng.Int64N(3000)
					topUp := func(db *gorm.DB) error {
						return errors.Join(
							db.Model(&model.User{}).Where("id = ?", tk.user).Update("quota", gorm.Expr("quota + ?", add)).Error,
							db.Model(&model.Token{}).Where("id = ?", tk.id).Update("remain_quota", gorm.Expr("remain_quota + ?", add)).Error)
					}
					if err := errors.Join(topUp(dst.Gorm()), topUp(bst.Gorm())); err != nil {
						t.Fatalf("step %d: top-up: %v", step, err)
					}
					batch.Forget(tk.user)
					batch.ForgetToken(tk.id)
				case p < 97: // admin edit: an absolute write, through Apply
					tk := f.tokens[rng.IntN(len(f.tokens))]
					q, r := rng.Int64N(5000), rng.Int64N(3000)
					set := func(db *gorm.DB) error {
						return errors.Join(
							db.Model(&model.User{}).Where("id = ?", tk.user).Update("quota", q).Error,
							db.Model(&model.Token{}).Where("id = ?", tk.id).Update("remain_quota", r).Error)
					}
					if err := errors.Join(set(dst.Gorm()), batch.Apply(ctx, func(x model.Tx) error { return set(x.Gorm()) })); err != nil {
						t.Fatalf("step %d: Apply: %v", step, err)
					}
				default:
					want := readLedgerState(t, dst.Gorm())
					compareLedgerStates(t, fmt.Sprintf("step %d, row+Pending", step), withPending(readLedgerState(t, bst.Gorm()), batch), want)
				}
			}
			if err := batch.Flush(ctx); err != nil {
				t.Fatalf("final Flush: %v", err)
			}
			compareLedgerStates(t, "after flush", readLedgerState(t, bst.Gorm()), readLedgerState(t, dst.Gorm()))
			if refused == 0 {
				t.Error("no Reserve was refused: the sequence never tested the limits")
			}
		})
	}
}
