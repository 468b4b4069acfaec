package controller_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/controller"
	"one-api/internal/testdb"
	"one-api/ledger"
	"one-api/model"
	"one-api/relay"
)

// TestChannelProbe: GET /api/channel/test/:id sends a tiny chat request,
// answers one-api's {success, message, time}, and records the timing.
func TestChannelProbe(t *testing.T) { testdb.Run(t, testChannelProbe) }

func testChannelProbe(t *testing.T, dialect string) {
	var got struct {
		path, auth string
		body       map[string]any
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.auth = r.URL.Path, r.Header.Get("Authorization")
		raw, _ := io.ReadAll(r.Body)
		json.Unmarshal(raw, &got.body)
		if got.body["model"] == "broken" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
			return
		}
		io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"h"}}]}`)
	}))
	defer up.Close()

	ctx := context.Background()
	store := openStore(t, defaultConfig(t), dialect)
	base := up.URL
	ch := &model.Channel{Type: model.ChannelOpenAI, Key: "ck", Status: model.ChannelAutoDisabled, Name: "c",
		BaseURL: &base, Models: "m1,m2", Group: "default"}
	if err := store.CreateChannels(ctx, []*model.Channel{ch}); err != nil {
		t.Fatal(err)
	}
	options, err := model.NewOptionStore(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	r, err := relay.New(ctx, relay.Config{Tokens: store, Ledger: ledger.NewDirect(store.Gorm()), Logs: model.DiscardLogSink{},
		Options: options, Store: store, Client: up.Client(), UnknownModelRatio: 30})
	if err != nil {
		t.Fatal(err)
	}
	probe := controller.NewChannelProbe(store, r)
	gin.SetMode(gin.TestMode)
	e := gin.New()
	e.GET("/api/channel/test/:id", probe.Test)

	for _, tc := range []struct {
		query, model string
		success      bool
		msg          string
	}{
		{"", "m1", true, ""},
		{"?model=m2", "m2", true, ""},
		{"?model=broken", "broken", false, "upstream status 401: Incorrect API key provided"},
	} {
		before := time.Now().Unix()
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", "/api/channel/test/1"+tc.query, nil))
		var res struct {
			Success bool     `json:"success"`
			Message string   `json:"message"`
			Time    *float64 `json:"time"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != 200 {
			t.Fatalf("%s: %d %s", tc.query, w.Code, w.Body)
		}
		if res.Success != tc.success || !strings.Contains(res.Message, tc.msg) || res.Time == nil {
			t.Errorf("%s: answer %s, want success=%v message %q and a time", tc.query, w.Body, tc.success, tc.msg)
		}
		if got.path != "/v1/chat/completions" || got.auth != "Bearer ck" || got.body["model"] != tc.model || got.body["max_tokens"] != 1.0 {
			t.Errorf("%s: upstream got %+v", tc.query, got)
		}
		row, err := store.GetChannel(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if row.TestTime < before || row.ResponseTime < 0 {
			t.Errorf("%s: test_time %d, response_time %d not recorded", tc.query, row.TestTime, row.ResponseTime)
		}
		if row.Status != model.ChannelAutoDisabled {
			t.Errorf("%s: probing changed the status to %d", tc.query, row.Status)
		}
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("GET", "/api/channel/test/99", nil))
	if !strings.Contains(w.Body.String(), `"success":false`) {
		t.Errorf("unknown channel: %s", w.Body)
	}
}
