package controller_test

import (
	"net/http"
	"testing"
)

func TestStatusAndReadiness(t *testing.T) {
	e := newEnv(t)
	res := e.ok(request{method: "GET", path: "/api/status"})
	got := data[struct {
		Version  string
		NodeType string `json:"node_type"`
		Database string
		Redis    string
	}](t, res)
	if got.Version != "v-test" || got.NodeType != "master" || got.Database != "sqlite" || got.Redis != "off" {
		t.Errorf("status = %+v", got)
	}
	if res.Header().Get("X-Oneapi-Request-Id") == "" {
		t.Error("no request id header")
	}

	sqlDB, err := e.store.DB.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.Close()
	res = e.do(request{method: "GET", path: "/api/status"})
	if res.Code != http.StatusServiceUnavailable || res.env.Success {
		t.Errorf("with the database closed: got %d %s, want 503 success=false", res.Code, res.Body.String())
	}
}
