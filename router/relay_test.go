package router

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/ledger"
	"one-api/model"
	"one-api/relay"
)

// TestRegisterRelay: every relay route sits behind token auth, after the
// caller's own middleware.
func TestRegisterRelay(t *testing.T) {
	cfg, err := common.LoadConfig(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := model.Open(model.OpenConfig{SQLitePath: filepath.Join(t.TempDir(), "db"), SQLite: cfg.SQLite})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	user := &model.User{Username: "u", Password: "x", Status: model.UserEnabled, Group: "default", AffCode: "a", AccessToken: "t", Quota: 10}
	store.Gorm().Create(user)
	store.Gorm().Create(&model.Token{UserID: user.ID, Key: "key1", Status: model.TokenEnabled, ExpiredTime: -1, UnlimitedQuota: true})
	options, err := model.NewOptionStore(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	r, err := relay.New(ctx, relay.Config{Tokens: store, Ledger: ledger.NewDirect(store.Gorm()), Logs: model.DiscardLogSink{},
		Options: options, Store: store, Client: http.DefaultClient})
	if err != nil {
		t.Fatal(err)
	}
	before := 0
	e := New(Deps{GinMode: gin.TestMode, Register: []func(*gin.Engine){func(e *gin.Engine) {
		RegisterRelay(e, r, func(c *gin.Context) { before++; c.Next() })
	}}})
	for _, tc := range []struct {
		method, path, key string
		status            int
	}{
		{"GET", "/v1/models", "", http.StatusUnauthorized},
		{"GET", "/v1/models", "sk-key1", http.StatusOK},
		{"GET", "/v1/models/gpt-4", "sk-key1", http.StatusNotFound},
		{"POST", "/v1/chat/completions", "", http.StatusUnauthorized},
		{"POST", "/v1/embeddings", "sk-wrong", http.StatusUnauthorized},
		{"POST", "/v1/audio/transcriptions", "", http.StatusUnauthorized},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.key != "" {
			req.Header.Set("Authorization", "Bearer "+tc.key)
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Code != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, w.Code, w.Body, tc.status)
		}
	}
	if before != 6 {
		t.Errorf("caller middleware ran %d times, want 6", before)
	}
}
