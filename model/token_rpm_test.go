package model

import (
	"context"
	"testing"

	"one-api/internal/testdb"
)

// TestRPMLimitColumnMigratesInPlace: a one-api tokens table (no rpm_limit)
// gets the column on Migrate, its rows keep their values and read as "no
// limit", and a limit set through the store reaches token auth.
func TestRPMLimitColumnMigratesInPlace(t *testing.T) {
	testdb.Run(t, testRPMLimitColumnMigratesInPlace)
}

func testRPMLimitColumnMigratesInPlace(t *testing.T, dialect string) {
	s := openDialectStore(t, dialect)
	ctx := context.Background()
	userID, tokenID := seedAccount(t, s, 100, 100)
	// Back to one-api's table, as a one-api database has it.
	if err := s.db.Migrator().DropColumn(&Token{}, "rpm_limit"); err != nil {
		t.Fatalf("drop rpm_limit: %v", err)
	}
	if s.db.Migrator().HasColumn(&Token{}, "rpm_limit") {
		t.Fatal("column still there")
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate a one-api tokens table: %v", err)
	}
	if !s.db.Migrator().HasColumn(&Token{}, "rpm_limit") {
		t.Fatal("Migrate did not add tokens.rpm_limit")
	}
	tok, err := s.GetToken(ctx, tokenID, userID)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RPMLimit != nil || tok.RemainQuota != 100 {
		t.Errorf("one-api's row after migration: rpm_limit %v, remain %d; want NULL, 100", tok.RPMLimit, tok.RemainQuota)
	}
	auth, err := s.GetTokenAuth(ctx, tok.Key)
	if err != nil || auth.RPMLimit != 0 {
		t.Fatalf("token auth of one-api's row = %+v, %v; want no limit", auth, err)
	}
	limit := 60
	tok.RPMLimit = &limit
	if err := s.UpdateToken(ctx, tok, []string{"rpm_limit"}); err != nil {
		t.Fatal(err)
	}
	if auth, err = s.GetTokenAuth(ctx, tok.Key); err != nil || auth.RPMLimit != 60 {
		t.Errorf("token auth after setting the limit = %+v, %v; want RPMLimit 60", auth, err)
	}
	// A second Migrate is a no-op.
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
}
