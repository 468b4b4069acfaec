package model

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func newTestUser(name, token string, role int) *User {
	return &User{Username: name, Password: "hash-" + name, DisplayName: name, Role: role, Status: UserEnabled,
		AccessToken: token, Group: "default", AffCode: "aff-" + name}
}

func TestUserStore(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		alice := newTestUser("alice", "alicetokenalicetokenalicetoken12", RoleCommon)
		bob := newTestUser("bob", "bobtokenbobtokenbobtokenbobtoken", RoleAdmin)
		for _, u := range []*User{alice, bob} {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateUser(ctx, newTestUser("alice", "othertokenothertokenothertoken12", RoleCommon)); !errors.Is(err, ErrDuplicate) {
			t.Errorf("duplicate username: err = %v, want ErrDuplicate", err)
		}

		got, err := s.GetUserByAccessToken(ctx, alice.AccessToken)
		if err != nil || got.ID != alice.ID || got.Password != "hash-alice" {
			t.Errorf("by access token = %+v, %v; want alice's whole row", got, err)
		}
		// Exact match on every dialect, whatever MySQL's collation says.
		for _, token := range []string{"", "nosuchtoken", strings.ToUpper(alice.AccessToken), alice.AccessToken + " "} {
			if _, err := s.GetUserByAccessToken(ctx, token); !errors.Is(err, ErrNotFound) {
				t.Errorf("access token %q: err = %v, want ErrNotFound", token, err)
			}
		}
		if got, err := s.GetUserByUsername(ctx, "bob"); err != nil || got.ID != bob.ID {
			t.Errorf("by username = %+v, %v", got, err)
		}

		// "group" is reserved: this must be quoted on every dialect.
		if err := s.UpdateUser(ctx, alice.ID, UserPatch{Group: new("vip"), Quota: new(int64(42))}); err != nil {
			t.Fatal(err)
		}
		// Writing the same values again is not "not found" (MySQL counts 0 changed rows).
		if err := s.UpdateUser(ctx, alice.ID, UserPatch{Group: new("vip")}); err != nil {
			t.Errorf("no-op update: %v", err)
		}
		if err := s.UpdateUser(ctx, 99999, UserPatch{Quota: new(int64(1))}); !errors.Is(err, ErrNotFound) {
			t.Errorf("update of a missing user: err = %v, want ErrNotFound", err)
		}
		if got, _ := s.GetUser(ctx, alice.ID); got.Group != "vip" || got.Quota != 42 {
			t.Errorf("after update = %+v, want group vip, quota 42", got)
		}

		list, err := s.ListUsers(ctx, Page{Offset: 0, Limit: 10})
		if err != nil || len(list) != 2 || list[0].ID != bob.ID || list[0].Password != "" || list[0].AccessToken != "" {
			t.Errorf("list = %+v, %v; want bob then alice, without secrets", list, err)
		}
		if list, _ := s.ListUsers(ctx, Page{Offset: 1, Limit: 10}); len(list) != 1 || list[0].ID != alice.ID {
			t.Errorf("page 2 = %+v, want alice", list)
		}
		for keyword, want := range map[string]int{"ali": alice.ID, itoa(bob.ID): bob.ID} {
			found, err := s.SearchUsers(ctx, keyword, Page{Limit: 10})
			if err != nil || len(found) != 1 || found[0].ID != want {
				t.Errorf("search %q = %+v, %v; want user %d", keyword, found, err, want)
			}
		}

		if err := s.DeleteUser(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(ctx, alice.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete: err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetUser(ctx, alice.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("get deleted: err = %v, want ErrNotFound", err)
		}

		// A shorter token (INITIAL_ROOT_ACCESS_TOKEN is free-form) comes back
		// from PostgreSQL's char(32) padded with spaces, and still matches.
		carol := newTestUser("carol", "short-token", RoleCommon)
		if err := s.CreateUser(ctx, carol); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetUserByAccessToken(ctx, "short-token"); err != nil || got.ID != carol.ID {
			t.Errorf("by a short access token = %+v, %v; want carol", got, err)
		}
	})
}
