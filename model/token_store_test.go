package model

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func itoa(n int) string { return strconv.Itoa(n) }

func TestTokenStore(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		owner := newTestUser("owner", "ownertokenownertokenownertoken12", RoleCommon)
		other := newTestUser("other", "othertokenothertokenothertoken12", RoleCommon)
		for _, u := range []*User{owner, other} {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		models := "gpt-4o"
		var tokens []*Token
		for i := 0; i < 3; i++ {
			tok := &Token{UserID: owner.ID, Key: "key" + itoa(i) + "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", Status: TokenEnabled,
				Name: "t" + itoa(i), ExpiredTime: -1, RemainQuota: 100, Models: &models}
			if err := s.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, tok)
		}
		dup := &Token{UserID: other.ID, Key: tokens[0].Key, Status: TokenEnabled, ExpiredTime: -1}
		if err := s.CreateToken(ctx, dup); !errors.Is(err, ErrDuplicate) {
			t.Errorf("duplicate key: err = %v, want ErrDuplicate", err)
		}

		list, err := s.ListTokens(ctx, owner.ID, Page{Offset: 1, Limit: 1})
		if err != nil || len(list) != 1 || list[0].ID != tokens[1].ID {
			t.Errorf("page = %+v, %v; want the middle token", list, err)
		}
		if list, _ := s.ListTokens(ctx, other.ID, Page{Limit: 10}); len(list) != 0 {
			t.Errorf("other user's tokens = %+v, want none", list)
		}
		if _, err := s.GetToken(ctx, tokens[0].ID, other.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("another user's token: err = %v, want ErrNotFound", err)
		}

		// Zero values are written too: quota 0, unlimited true.
		tok := tokens[0]
		cols := []string{"name", "remain_quota", "unlimited_quota", "status"}
		tok.Name, tok.RemainQuota, tok.UnlimitedQuota, tok.Status = "renamed", 0, true, TokenDisabled
		if err := s.UpdateToken(ctx, tok, cols); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateToken(ctx, tok, cols); err != nil {
			t.Errorf("no-op update: %v", err)
		}
		got, err := s.GetToken(ctx, tok.ID, owner.ID)
		if err != nil || got.Name != "renamed" || got.RemainQuota != 0 || !got.UnlimitedQuota || got.Status != TokenDisabled {
			t.Errorf("after update = %+v, %v", got, err)
		}
		// Only the named columns are written: a stale remain_quota in the
		// struct stays out of the row.
		tok.Name, tok.RemainQuota = "again", 12345
		if err := s.UpdateToken(ctx, tok, []string{"name"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetToken(ctx, tok.ID, owner.ID); got.Name != "again" || got.RemainQuota != 0 {
			t.Errorf("name-only update wrote %+v, want the name changed and remain_quota still 0", got)
		}
		if err := s.UpdateToken(ctx, tok, []string{"used_quota"}); err == nil {
			t.Error("writing used_quota: err = nil, want a refusal")
		}
		stolen := *tok
		stolen.UserID = other.ID
		for _, cols := range [][]string{cols, nil} {
			if err := s.UpdateToken(ctx, &stolen, cols); !errors.Is(err, ErrNotFound) {
				t.Errorf("update %v through another user: err = %v, want ErrNotFound", cols, err)
			}
		}

		// The relay's lookup finds it by key ("key" is quoted per dialect).
		auth, err := s.GetTokenAuth(ctx, tokens[1].Key)
		if err != nil || auth.TokenID != tokens[1].ID || auth.Username != "owner" || auth.Group != "default" {
			t.Errorf("token auth = %+v, %v", auth, err)
		}
		// MySQL's default collation ignores case and char columns ignore
		// trailing spaces; a key must match exactly, or a variant would
		// authenticate and be cached apart from the key TokenChanged evicts.
		for _, variant := range []string{strings.ToUpper(tokens[1].Key), tokens[1].Key + " "} {
			if _, err := s.GetTokenAuth(ctx, variant); !errors.Is(err, ErrTokenNotFound) {
				t.Errorf("token auth for %q: err = %v, want ErrTokenNotFound", variant, err)
			}
		}

		if _, err := s.DeleteToken(ctx, tokens[1].ID, other.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("delete through another user: err = %v, want ErrNotFound", err)
		}
		key, err := s.DeleteToken(ctx, tokens[1].ID, owner.ID)
		if err != nil || key != tokens[1].Key {
			t.Errorf("delete = %q, %v; want the token's key", key, err)
		}
		if _, err := s.GetTokenAuth(ctx, tokens[1].Key); !errors.Is(err, ErrTokenNotFound) {
			t.Errorf("deleted token still found: %v", err)
		}
	})
}
