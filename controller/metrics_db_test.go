package controller_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"one-api/controller"
	"one-api/internal/testdb"
)

func TestDBMetrics(t *testing.T) { testdb.Run(t, testDBMetrics) }

func testDBMetrics(t *testing.T, dialect string) {
	cfg := defaultConfig(t)
	store := openStore(t, cfg, dialect)
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
			SQLite *struct {
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
	if !got.Success || d.Dialect != dialect || d.Pool.WaitDuration == "" {
		t.Fatalf("GET /api/metrics/db = %s", w.Body)
	}
	if dialect != testdb.SQLite {
		if d.Pool.MaxOpen != cfg.SQLMaxOpen || d.SQLite != nil {
			t.Errorf("GET /api/metrics/db = %s, want max_open %d and no sqlite section", w.Body, cfg.SQLMaxOpen)
		}
		return
	}
	if d.Pool.MaxOpen != 5 || d.SQLite == nil || d.SQLite.Pragmas["journal_mode"] != "WAL" ||
		d.SQLite.Pragmas["synchronous"] != "NORMAL" || !d.SQLite.Consistent || d.SQLite.Files.DB == 0 {
		t.Errorf("GET /api/metrics/db = %s", w.Body)
	}
}
