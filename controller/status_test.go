package controller_test

import (
	"net/http"
	"testing"

	"one-api/internal/testdb"
)

func TestStatusAndReadiness(t *testing.T) { testdb.Run(t, testStatusAndReadiness) }

func testStatusAndReadiness(t *testing.T, dialect string) {
	e := newEnv(t, withDialect(dialect))
	res := e.ok(request{method: "GET", path: "/api/status"})
	got := data[struct {
		Version  string
		NodeType string `json:"node_type"`
		Database string
		Redis    string
	}](t, res)
	if got.Version != "v-test" || got.NodeType != "master" || got.Database != dialect || got.Redis != "off" {
		t.Errorf("status = %+v", got)
	}
	if res.Header().Get("X-Oneapi-Request-Id") == "" {
		t.Error("no request id header")
	}

	sqlDB, err := e.store.Gorm().DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.Close()
	res = e.do(request{method: "GET", path: "/api/status"})
	if res.Code != http.StatusServiceUnavailable || res.env.Success {
		t.Errorf("with the database closed: got %d %s, want 503 success=false", res.Code, res.Body.String())
	}
}
