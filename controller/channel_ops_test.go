package controller_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"one-api/internal/testdb"
	"one-api/model"
)

// channelUpstream is a fake upstream serving chat completions (refusing the
// key "bad") and the balance APIs the gateway knows; it records the keys
// of the chat requests it got.
func channelUpstream(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var keys []string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if key == "bad" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}`)
			return
		}
		switch r.URL.Path {
		case "/v1/chat/completions":
			mu.Lock()
			keys = append(keys, key)
			mu.Unlock()
			io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"h"}}]}`)
		case "/v1/dashboard/billing/subscription":
			io.WriteString(w, `{"object":"billing_subscription","has_payment_method":true,"hard_limit_usd":10}`)
		case "/v1/dashboard/billing/usage":
			if r.URL.Query().Get("start_date") == "" || r.URL.Query().Get("end_date") == "" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			io.WriteString(w, `{"object":"list","total_usage":250}`)
		case "/user/balance":
			io.WriteString(w, `{"is_available":true,"balance_infos":[{"currency":"USD","total_balance":"1.00"},{"currency":"CNY","total_balance":"12.50"}]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(s.Close)
	return s, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), keys...)
	}
}

// TestChannelBulkRoutes: the model list, testing every enabled channel,
// reading balances, and deleting the disabled channels, as an admin; a
// normal user may use none of them.
func TestChannelBulkRoutes(t *testing.T) { testdb.Run(t, testChannelBulkRoutes) }

func testChannelBulkRoutes(t *testing.T, dialect string) {
	up, chatKeys := channelUpstream(t)
	e := newEnv(t, withDialect(dialect), withUpstream(up.Client()))
	ctx := context.Background()
	base := up.URL
	for _, ch := range []*model.Channel{
		{Type: model.ChannelOpenAI, Key: "k1", Status: model.ChannelEnabled, Name: "openai", Models: "m1"},
		{Type: model.ChannelCustom, Key: "bad", Status: model.ChannelEnabled, Name: "dead", Models: "m2"},
		{Type: 36, Key: "k3", Status: model.ChannelEnabled, Name: "deepseek", Models: "deepseek-chat"},
		{Type: model.ChannelOpenAI, Key: "k4", Status: model.ChannelManuallyDisabled, Name: "off", Models: "m1"},
		{Type: 14, Key: "k5", Status: model.ChannelAutoDisabled, Name: "anthropic", Models: "claude-x"},
	} {
		ch.BaseURL = &base
		ch.Group = "default"
		if err := e.store.CreateChannels(ctx, []*model.Channel{ch}); err != nil {
			t.Fatal(err)
		}
	}
	// As the admin API's channel routes would have done.
	if err := e.probe.Relay.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	row := func(id int) *model.Channel {
		t.Helper()
		ch, err := e.store.GetChannel(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}

	t.Run("a normal user may not", func(t *testing.T) {
		const userToken = "usertokenusertokenusertokenuser1"
		e.addUser("bob", "bob-password", userToken, model.RoleCommon)
		for _, r := range []request{
			{method: "GET", path: "/api/channel/models"}, {method: "GET", path: "/api/channel/test"},
			{method: "GET", path: "/api/channel/update_balance"}, {method: "GET", path: "/api/channel/update_balance/1"},
			{method: "DELETE", path: "/api/channel/disabled"},
		} {
			r.auth = userToken
			if res := e.do(r); res.Code != http.StatusForbidden && (res.Code != http.StatusOK || res.env.Success) {
				t.Errorf("%s %s as a normal user: %d %s", r.method, r.path, res.Code, res.Body)
			}
		}
		if n := len(chatKeys()); n != 0 {
			t.Errorf("the upstream was called %d times", n)
		}
		if _, err := e.store.GetChannel(ctx, 4); err != nil {
			t.Errorf("a disabled channel went: %v", err)
		}
	})

	t.Run("models", func(t *testing.T) {
		res := e.do(request{method: "GET", path: "/api/channel/models", auth: rootToken})
		var list struct {
			Success bool
			Object  string
			Data    []struct {
				ID      string `json:"id"`
				OwnedBy string `json:"owned_by"`
			}
		}
		if err := json.Unmarshal(res.Body.Bytes(), &list); err != nil || !list.Success || list.Object != "list" {
			t.Fatalf("models: %d %s", res.Code, res.Body)
		}
		owners := map[string]string{}
		for _, m := range list.Data {
			owners[m.ID] = m.OwnedBy
		}
		for name, want := range map[string]string{"m1": "openai", "m2": "custom", "claude-x": "one-api", "gpt-3.5-turbo": "one-api"} {
			if owners[name] != want {
				t.Errorf("model %s owned by %q, want %q (of %d models)", name, owners[name], want, len(owners))
			}
		}
	})

	t.Run("test all enabled channels", func(t *testing.T) {
		e.ok(request{method: "GET", path: "/api/channel/test", auth: rootToken})
		e.probe.Wait()
		for id := 1; id <= 3; id++ {
			if ch := row(id); ch.TestTime == 0 {
				t.Errorf("enabled channel #%d: test_time not recorded", id)
			}
		}
		for id := 4; id <= 5; id++ {
			if ch := row(id); ch.TestTime != 0 {
				t.Errorf("disabled channel #%d was tested", id)
			}
		}
		if keys := strings.Join(chatKeys(), ","); strings.Contains(keys, "k4") || strings.Contains(keys, "k5") || !strings.Contains(keys, "k1") {
			t.Errorf("upstream got chat requests with keys %s, want k1 and k3 only", keys)
		}
		if ch := row(2); ch.Status != model.ChannelEnabled {
			t.Errorf("a failed test changed the status to %d", ch.Status)
		}
	})

	t.Run("balances", func(t *testing.T) {
		res := e.do(request{method: "GET", path: "/api/channel/update_balance/1", auth: rootToken})
		var b struct {
			Success bool
			Balance float64
		}
		if err := json.Unmarshal(res.Body.Bytes(), &b); err != nil || !b.Success || b.Balance != 7.5 {
			t.Fatalf("balance of the OpenAI channel: %s, want 10 − 250/100 = 7.5", res.Body)
		}
		if ch := row(1); ch.Balance != 7.5 || ch.BalanceUpdatedTime == 0 {
			t.Errorf("stored balance %v at %d", ch.Balance, ch.BalanceUpdatedTime)
		}
		if msg := e.refused(request{method: "GET", path: "/api/channel/update_balance/5", auth: rootToken}); !strings.Contains(msg, "not supported for this channel type") {
			t.Errorf("Anthropic channel: %q, want not supported", msg)
		}
		if msg := e.refused(request{method: "GET", path: "/api/channel/update_balance/2", auth: rootToken}); !strings.Contains(msg, "status 401") || strings.Contains(msg, "bad") {
			t.Errorf("dead key: %q, want the upstream's status and no key", msg)
		}
		e.refused(request{method: "GET", path: "/api/channel/update_balance/99", auth: rootToken})
		all := e.ok(request{method: "GET", path: "/api/channel/update_balance", auth: rootToken})
		if !strings.Contains(all.env.Message, "1 of 3") {
			t.Errorf("update all: message %q, want 1 of 3 failed", all.env.Message)
		}
		if ch := row(3); ch.Balance != 12.5 {
			t.Errorf("DeepSeek balance = %v, want the CNY 12.5", ch.Balance)
		}
	})

	t.Run("delete disabled", func(t *testing.T) {
		before := e.rebuilds.Load()
		res := e.ok(request{method: "DELETE", path: "/api/channel/disabled", auth: rootToken})
		if n := data[int](t, res); n != 2 {
			t.Errorf("deleted %d, want 2", n)
		}
		for id := 4; id <= 5; id++ {
			if _, err := e.store.GetChannel(ctx, id); err == nil {
				t.Errorf("disabled channel #%d still there", id)
			}
			if a := e.abilities(id); len(a) != 0 {
				t.Errorf("abilities of deleted channel #%d: %v", id, a)
			}
		}
		if a := e.abilities(1); len(a) != 1 {
			t.Errorf("abilities of enabled channel #1: %v", a)
		}
		if e.rebuilds.Load() == before {
			t.Error("routing table not rebuilt")
		}
		if n := data[int](t, e.ok(request{method: "DELETE", path: "/api/channel/disabled", auth: rootToken})); n != 0 {
			t.Errorf("second delete: %d, want 0", n)
		}
	})
}
