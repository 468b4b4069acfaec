package model

import (
	"errors"
	"fmt"
	"testing"

	"gorm.io/gorm"
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
		u := &User{Username: fmt.Sprintf("u%d", i), Password: "x", Status: UserEnabled, Quota: q,
			Group: "default", AccessToken: fmt.Sprintf("at%d", i), AffCode: fmt.Sprintf("aff%d", i)}
		if err := db.Create(u).Error; err != nil {
			t.Fatalf("seed user: %v", err)
		}
		f.users = append(f.users, u.ID)
		for j, remain := range []int64{600, 2500, 0} {
			tok := &Token{UserID: u.ID, Key: fmt.Sprintf("k%d-%d", i, j), Status: TokenEnabled, ExpiredTime: -1,
				RemainQuota: remain, UnlimitedQuota: j == 2}
			if err := db.Create(tok).Error; err != nil {
				t.Fatalf("seed token: %v", err)
			}
			f.tokens = append(f.tokens, ledgerToken{id: tok.ID, user: u.ID, unlimited: tok.UnlimitedQuota})
		}
	}
	for i := range 2 {
		ch := &Channel{Name: fmt.Sprintf("ch%d", i), Key: "sk", Status: ChannelEnabled}
		if err := db.Create(ch).Error; err != nil {
			t.Fatalf("seed channel: %v", err)
		}
		f.channels = append(f.channels, ch.ID)
	}
	return f
}

type ledgerState struct {
	users    map[int]UserDelta  // quota, used_quota, request_count
	tokens   map[int]TokenDelta // remain_quota, used_quota
	channels map[int]int64
}

func readLedgerState(t testing.TB, db *gorm.DB) ledgerState {
	t.Helper()
	s := ledgerState{users: map[int]UserDelta{}, tokens: map[int]TokenDelta{}, channels: map[int]int64{}}
	var users []User
	var tokens []Token
	var channels []Channel
	if err := errors.Join(db.Find(&users).Error, db.Find(&tokens).Error, db.Find(&channels).Error); err != nil {
		t.Fatalf("read state: %v", err)
	}
	for _, u := range users {
		s.users[u.ID] = UserDelta{u.Quota, u.UsedQuota, int64(u.RequestCount)}
	}
	for _, tk := range tokens {
		s.tokens[tk.ID] = TokenDelta{tk.RemainQuota, tk.UsedQuota}
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
