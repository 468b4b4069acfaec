package controller_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"one-api/internal/testdb"
	"one-api/model"
)

// abilities reads channel id's abilities as "group/model/enabled/priority".
func (e *testEnv) abilities(id int) []string {
	e.t.Helper()
	var rows []model.Ability
	if err := e.store.Gorm().Where("channel_id = ?", id).Find(&rows).Error; err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		state := "off"
		if r.Enabled {
			state = "on"
		}
		out = append(out, r.Group+"/"+r.Model+"/"+state+"/"+itoa(int(*r.Priority)))
	}
	sort.Strings(out)
	return out
}

func TestChannelAbilitiesInStep(t *testing.T) { testdb.Run(t, testChannelAbilitiesInStep) }

func testChannelAbilitiesInStep(t *testing.T, dialect string) {
	e := newEnv(t, withDialect(dialect))
	const key = "sk-upstreamsecretupstreamsecret"
	ch := data[model.Channel](t, e.ok(request{method: "POST", path: "/api/channel/", auth: rootToken, body: map[string]any{
		"type": 1, "name": "openai", "key": key, "base_url": "https://api.example.com",
		"models": "gpt-4o, gpt-4o-mini,gpt-4o", "group": "default,vip", "model_mapping": `{"gpt-4o":"gpt-4o-2024-08-06"}`,
		"priority": 5, "weight": 3, "config": `{"region":"eu"}`,
	}}))
	if ch.ID == 0 || ch.Key != "" || ch.Models != "gpt-4o,gpt-4o-mini" || ch.Status != model.ChannelEnabled {
		t.Fatalf("created = %+v, want an id, no key, models deduplicated, enabled", ch)
	}
	if g, w := e.rebuilds.Load(), int32(1); g != w {
		t.Errorf("ChannelsChanged calls = %d, want %d", g, w)
	}

	steps := []struct {
		name string
		body map[string]any
		want []string
	}{
		{"created: one row per model × group", nil,
			[]string{"default/gpt-4o-mini/on/5", "default/gpt-4o/on/5", "vip/gpt-4o-mini/on/5", "vip/gpt-4o/on/5"}},
		{"models and priority change", map[string]any{"models": "gpt-3.5-turbo", "priority": 7},
			[]string{"default/gpt-3.5-turbo/on/7", "vip/gpt-3.5-turbo/on/7"}},
		{"disabled", map[string]any{"status": model.ChannelManuallyDisabled},
			[]string{"default/gpt-3.5-turbo/off/7", "vip/gpt-3.5-turbo/off/7"}},
		{"enabled, one group", map[string]any{"status": model.ChannelEnabled, "group": "vip"},
			[]string{"vip/gpt-3.5-turbo/on/7"}},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.body != nil {
				s.body["id"] = ch.ID
				e.ok(request{method: "PUT", path: "/api/channel/", auth: rootToken, body: s.body})
				if g, w := e.rebuilds.Load(), int32(1+i); g != w {
					t.Errorf("ChannelsChanged calls = %d, want %d", g, w)
				}
			}
			if g := e.abilities(ch.ID); strings.Join(g, " ") != strings.Join(s.want, " ") {
				t.Errorf("abilities = %v, want %v", g, s.want)
			}
		})
	}

	t.Run("key kept when not sent, never shown", func(t *testing.T) {
		stored, err := e.store.GetChannel(context.Background(), ch.ID)
		if err != nil || stored.Key != key {
			t.Fatalf("stored key = %q, %v; want the original", stored.Key, err)
		}
		for _, path := range []string{"/api/channel/", "/api/channel/" + itoa(ch.ID), "/api/channel?p=0"} {
			if res := e.ok(request{method: "GET", path: path, auth: rootToken}); strings.Contains(res.Body.String(), "upstreamsecret") {
				t.Errorf("GET %s shows the channel key: %s", path, res.Body.String())
			}
		}
	})

	t.Run("invalid bodies are refused and change nothing", func(t *testing.T) {
		before := e.rebuilds.Load()
		for _, r := range []request{
			{method: "PUT", path: "/api/channel/", body: map[string]any{"id": ch.ID, "status": 9}},
			{method: "PUT", path: "/api/channel/", body: map[string]any{"id": ch.ID, "model_mapping": "{not json"}},
			{method: "PUT", path: "/api/channel/", body: map[string]any{"id": ch.ID, "base_url": "ftp://x"}},
			{method: "PUT", path: "/api/channel/", body: map[string]any{"id": 99999, "name": "ghost"}},
			{method: "POST", path: "/api/channel/", body: map[string]any{"type": 1, "models": "m"}},
			{method: "POST", path: "/api/channel/", body: map[string]any{"key": "k", "models": "m"}},
		} {
			r.auth = rootToken
			e.refused(r)
		}
		if e.rebuilds.Load() != before {
			t.Error("ChannelsChanged called for a refused change")
		}
	})

	t.Run("several keys make several channels", func(t *testing.T) {
		chs := data[[]model.Channel](t, e.ok(request{method: "POST", path: "/api/channel", auth: rootToken,
			body: map[string]any{"type": 1, "name": "pool", "key": "key-one\n\nkey-two\n", "models": "m1"}}))
		if len(chs) != 2 {
			t.Fatalf("created %d channels, want 2", len(chs))
		}
		for _, c := range chs {
			if g := e.abilities(c.ID); len(g) != 1 || g[0] != "default/m1/on/0" {
				t.Errorf("channel %d abilities = %v, want [default/m1/on/0]", c.ID, g)
			}
		}
	})

	t.Run("delete removes the abilities", func(t *testing.T) {
		before := e.rebuilds.Load()
		e.ok(request{method: "DELETE", path: "/api/channel/" + itoa(ch.ID), auth: rootToken})
		if g := e.abilities(ch.ID); len(g) != 0 {
			t.Errorf("abilities after delete = %v, want none", g)
		}
		if e.rebuilds.Load() != before+1 {
			t.Error("ChannelsChanged not called on delete")
		}
		e.refused(request{method: "GET", path: "/api/channel/" + itoa(ch.ID), auth: rootToken})
		e.refused(request{method: "DELETE", path: "/api/channel/" + itoa(ch.ID), auth: rootToken})
	})
}
