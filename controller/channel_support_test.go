package controller_test

import (
	"strings"
	"testing"

	"one-api/model"
)

// TestChannelListSaysUnsupported: a channel of a type the gateway cannot
// serve is listed as it is stored, with the reason it is never routed.
func TestChannelListSaysUnsupported(t *testing.T) {
	e := newEnv(t)
	for _, body := range []map[string]any{
		{"type": 15, "name": "e-ernie", "key": "k1", "models": "ERNIE-4.0-8K"},
		{"type": 14, "name": "e-claude", "key": "k2", "models": "claude-3-haiku-20240307"},
	} {
		e.ok(request{method: "POST", path: "/api/channel/", auth: rootToken, body: body})
	}
	type row struct {
		model.Channel
		Unsupported string `json:"unsupported"`
	}
	for _, path := range []string{"/api/channel/", "/api/channel/search?keyword=e"} {
		rows := data[[]row](t, e.ok(request{method: "GET", path: path, auth: rootToken}))
		got := map[string]string{}
		for _, r := range rows {
			got[r.Name] = r.Unsupported
		}
		if !strings.Contains(got["e-ernie"], "not supported by this gateway") || !strings.Contains(got["e-ernie"], "Baidu") {
			t.Errorf("%s: Baidu channel: unsupported = %q", path, got["e-ernie"])
		}
		if u, ok := got["e-claude"]; !ok || u != "" {
			t.Errorf("%s: Anthropic channel: unsupported = %q (present %v), want empty", path, u, ok)
		}
	}
}
