package controller_test

import (
	"strings"
	"testing"

	"one-api/internal/testdb"
	"one-api/model"
)

func TestLogs(t *testing.T) { testdb.Run(t, testLogs) }

func testLogs(t *testing.T, dialect string) {
	e := newEnv(t, withDialect(dialect))
	const userToken = "usertokenusertokenusertokenuser1"
	alice := e.addUser("alice", "alice-password", userToken, model.RoleCommon)
	// id order = created_at order, as the relay writes them.
	seed := []model.Log{
		{UserID: e.rootID, Username: "root", CreatedAt: 100, Type: model.LogTopUp, Quota: 0},
		{UserID: alice, Username: "alice", CreatedAt: 200, Type: model.LogConsume, TokenName: "t1", ModelName: "gpt-4o", ChannelID: 1, Quota: 10},
		{UserID: alice, Username: "alice", CreatedAt: 300, Type: model.LogConsume, TokenName: "t2", ModelName: "gpt-4o-mini", ChannelID: 2, Quota: 20},
		{UserID: e.rootID, Username: "root", CreatedAt: 400, Type: model.LogConsume, TokenName: "t1", ModelName: "gpt-4o", ChannelID: 2, Quota: 40},
		{UserID: alice, Username: "alice", CreatedAt: 500, Type: model.LogConsume, TokenName: "t1", ModelName: "gpt-4o", ChannelID: 1, Quota: 80},
	}
	if err := e.store.LogGorm().Create(&seed).Error; err != nil {
		t.Fatal(err)
	}
	createdAts := func(logs []model.Log) string {
		var s []string
		for _, l := range logs {
			s = append(s, itoa(int(l.CreatedAt)))
		}
		return strings.Join(s, ",")
	}

	tests := []struct {
		name, path, auth string
		want             string // created_at of the rows, in order
	}{
		{"all, newest first", "/api/log/", rootToken, "500,400,300,200,100"},
		{"type", "/api/log/?type=1", rootToken, "100"},
		{"username", "/api/log/?username=alice", rootToken, "500,300,200"},
		{"token name", "/api/log/?token_name=t1", rootToken, "500,400,200"},
		{"model name", "/api/log/?model_name=gpt-4o-mini", rootToken, "300"},
		{"channel", "/api/log/?channel=2", rootToken, "400,300"},
		{"time window", "/api/log/?start_timestamp=200&end_timestamp=400", rootToken, "400,300,200"},
		{"combined", "/api/log/?username=alice&model_name=gpt-4o&channel=1&type=2", rootToken, "500,200"},
		{"page 0", "/api/log/?page_size=2", rootToken, "500,400"},
		{"page 2", "/api/log/?p=2&page_size=2", rootToken, "100"},
		{"past the end", "/api/log/?p=9", rootToken, ""},
		{"self sees only own", "/api/log/self", userToken, "500,300,200"},
		{"self ignores username", "/api/log/self?username=root", userToken, "500,300,200"},
		{"self with filters", "/api/log/self?token_name=t1&start_timestamp=300", userToken, "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := data[[]model.Log](t, e.ok(request{method: "GET", path: tt.path, auth: tt.auth}))
			if g := createdAts(logs); g != tt.want {
				t.Errorf("got rows %q, want %q", g, tt.want)
			}
		})
	}
	e.refused(request{method: "GET", path: "/api/log/?start_timestamp=yesterday", auth: rootToken})

	stats := []struct {
		name, path, auth string
		want             int64
	}{
		{"consume logs by default", "/api/log/stat", rootToken, 150},
		{"filtered", "/api/log/stat?username=alice&token_name=t1", rootToken, 90},
		{"window", "/api/log/stat?start_timestamp=300&end_timestamp=400", rootToken, 60},
		{"nothing matches", "/api/log/stat?model_name=none", rootToken, 0},
		{"self", "/api/log/self/stat", userToken, 110},
	}
	for _, tt := range stats {
		t.Run("stat "+tt.name, func(t *testing.T) {
			got := data[struct{ Quota int64 }](t, e.ok(request{method: "GET", path: tt.path, auth: tt.auth}))
			if got.Quota != tt.want {
				t.Errorf("quota = %d, want %d", got.Quota, tt.want)
			}
		})
	}

	t.Run("delete before timestamp", func(t *testing.T) {
		e.refused(request{method: "DELETE", path: "/api/log/", auth: rootToken})
		if res := e.do(request{method: "DELETE", path: "/api/log/?target_timestamp=300", auth: userToken}); res.Code != 403 {
			t.Errorf("common user deleting logs: got %d, want 403", res.Code)
		}
		n := data[int64](t, e.ok(request{method: "DELETE", path: "/api/log/?target_timestamp=300", auth: rootToken}))
		if n != 2 {
			t.Errorf("deleted %d, want 2 (created at 100 and 200)", n)
		}
		logs := data[[]model.Log](t, e.ok(request{method: "GET", path: "/api/log", auth: rootToken}))
		if g := createdAts(logs); g != "500,400,300" {
			t.Errorf("left %q, want 500,400,300", g)
		}
	})
}
