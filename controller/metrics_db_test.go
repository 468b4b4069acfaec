package controller_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/controller"
	"one-api/model"
)

func TestDBMetrics(t *testing.T) {
	cfg, err := common.LoadConfig(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.SQLitePath = filepath.Join(t.TempDir(), "one-api.db")
	store, err := model.Open(model.OpenConfigFrom(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	e := gin.New()
	e.GET("/api/metrics/db", (&controller.API{Store: store}).DBMetrics)

	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/metrics/db", nil))
	var got struct {
		Success bool   `json:"success"`
		Message string `json:"message"`
		Data    struct {
			Dialect string `json:"dialect"`
			Pool    struct {
				MaxOpen      int    `json:"max_open"`
				WaitDuration string `json:"wait_duration"`
			} `json:"pool"`
			SQLite struct {
				Pragmas    map[string]string `json:"pragmas"`
				Consistent bool              `json:"consistent"`
				Files      struct {
					DB int64 `json:"db_bytes"`
				} `json:"files"`
			} `json:"sqlite"`
		} `json:"data"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	d := got.Data
	if !got.Success || d.Dialect != "sqlite" || d.Pool.MaxOpen != 5 || d.Pool.WaitDuration == "" ||
		d.SQLite.Pragmas["journal_mode"] != "WAL" || d.SQLite.Pragmas["synchronous"] != "NORMAL" ||
		!d.SQLite.Consistent || d.SQLite.Files.DB == 0 {
		t.Errorf("GET /api/metrics/db = %s", w.Body)
	}
}
