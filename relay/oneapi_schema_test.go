package relay_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"one-api/model"
)

// A one-api v0.6.11 database relays unchanged (issue 2): its exact schema,
// rows written the way one-api writes them, then Store.Migrate and a chat
// completion per token through the whole stack, with every port direct and
// with every port cached and batched.
const (
	oneAPIUnlimitedKey = "UnlimitedKeyUnlimitedKeyUnlimitedKeyUnlimitedKe" // 48 characters, no sk-
	oneAPILimitedKey   = "LimitedKeyLimitedKeyLimitedKeyLimitedKeyLimited1"
	oneAPIChannelKey   = "sk-upstream-secret"
	// One-api's history, kept by the migration and added to by the relay.
	oneAPIUserQuota    = 500000
	oneAPIUsedQuota    = 1200 // user, unlimited token and channel
	oneAPIRequestCount = 3
	oneAPITokenRemain  = 5000 // the limited token
	// chatCompletion's price (TestQuotaExact).
	chatQuota = 18
)

// oneAPIDatabase writes one-api's schema and rows to a new SQLite file whose
// only channel sends to upstreamURL, and returns its path.
func oneAPIDatabase(t *testing.T, upstreamURL string) string {
	t.Helper()
	schema, err := os.ReadFile("../model/testdata/oneapi-v0.6.11.schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	// The password is a bcrypt hash in one-api's format; nothing logs in here.
	seed := []string{
		fmt.Sprintf("INSERT INTO users (id, username, password, display_name, role, status, email, github_id, wechat_id, lark_id, oidc_id, access_token, quota, used_quota, request_count, `group`, aff_code, inviter_id) VALUES "+
			"(1, 'root', '$2a$10$abcdefghijklmnopqrstuuG6cKDZuM8yy2tPaDYm9Xb3g0b8vLq2a', 'Root User', 100, 1, '', '', '', '', '', '0123456789abcdef0123456789abcdef', %d, %d, %d, 'default', 'Xy9z', 0)",
			oneAPIUserQuota, oneAPIUsedQuota, oneAPIRequestCount),
		fmt.Sprintf("INSERT INTO tokens (id, user_id, `key`, status, name, created_time, accessed_time, expired_time, remain_quota, unlimited_quota, used_quota, models, subnet) VALUES "+
			"(1, 1, '%s', 1, 'unlimited', 1700000000, 1700000100, -1, 0, 1, %d, NULL, ''),"+
			"(2, 1, '%s', 1, 'limited', 1700000000, 1700000000, -1, %d, 0, 0, 'gpt-3.5-turbo', '')",
			oneAPIUnlimitedKey, oneAPIUsedQuota, oneAPILimitedKey, oneAPITokenRemain),
		fmt.Sprintf("INSERT INTO channels (id, type, `key`, status, name, weight, created_time, test_time, response_time, base_url, other, balance, balance_updated_time, models, `group`, used_quota, model_mapping, priority, config, system_prompt) VALUES "+
			"(1, 1, '%s', 1, 'openai', 0, 1700000000, 0, 0, '%s', '', 0, 0, 'gpt-3.5-turbo', 'default', %d, '', 0, '{}', NULL)",
			oneAPIChannelKey, upstreamURL, oneAPIUsedQuota),
		"INSERT INTO abilities (`group`, model, channel_id, enabled, priority) VALUES ('default', 'gpt-3.5-turbo', 1, 1, 0)",
		fmt.Sprintf("INSERT INTO logs (id, user_id, created_at, type, content, username, token_name, model_name, quota, prompt_tokens, completion_tokens, channel_id, request_id, elapsed_time, is_stream, system_prompt_reset) VALUES "+
			"(1, 1, 1700000200, 2, 'model rate 0.25', 'root', 'unlimited', 'gpt-3.5-turbo', %d, 100, 20, 1, '20231114000000abcdefgh', 350, 0, 0)",
			oneAPIUsedQuota),
	}
	path := tempDB(t)
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, stmt := range append(strings.Split(string(schema), ";\n"), seed...) {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			if _, err := raw.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	return path
}

// authUpstream answers chatCompletion and remembers the Authorization
// headers it was sent.
type authUpstream struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func newAuthUpstream(t *testing.T) *authUpstream {
	t.Helper()
	u := &authUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.auths = append(u.auths, r.URL.Path+" "+r.Header.Get("Authorization"))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, chatCompletion)
	}))
	t.Cleanup(u.Close)
	return u
}

func TestOneAPIDatabaseRelays(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    profile
	}{
		{"direct", allOff},
		{"cached and batched", allOn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newAuthUpstream(t)
			store := openStore(t, oneAPIDatabase(t, up.URL))
			if err := store.Migrate(context.Background()); err != nil {
				t.Fatalf("migrate a one-api database: %v", err)
			}
			s := newStack(t, store, tc.p)
			for _, key := range []string{oneAPIUnlimitedKey, oneAPILimitedKey} {
				w := s.chat(key, `{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"hi"}]}`)
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Hello there") {
					t.Fatalf("relay with a one-api key: %d %s", w.Code, w.Body)
				}
			}
			s.drain(t)

			up.mu.Lock()
			auths := strings.Join(up.auths, "\n")
			up.mu.Unlock()
			want := "/v1/chat/completions Bearer " + oneAPIChannelKey
			if auths != want+"\n"+want {
				t.Errorf("upstream was sent:\n%s\nwant twice: %s", auths, want)
			}
			checkOneAPIAfterRelay(t, store)
		})
	}
}

// checkOneAPIAfterRelay checks the rows after one request with each token.
func checkOneAPIAfterRelay(t *testing.T, store *model.Store) {
	var logs []model.Log
	if err := store.LogGorm().Where("type = ? AND id > 1", model.LogConsume).Order("token_name").Find(&logs).Error; err != nil {
		t.Fatal(err)
	}
	if len(logs) != 2 {
		t.Fatalf("%d new consume logs, want 2: %+v", len(logs), logs)
	}
	for i, name := range []string{"limited", "unlimited"} {
		l := logs[i]
		if l.TokenName != name || l.UserID != 1 || l.Username != "root" || l.ModelName != "gpt-3.5-turbo" || l.ChannelID != 1 ||
			l.Quota != chatQuota || l.PromptTokens != 10 || l.CompletionTokens != 20 || l.RequestID == "" || l.IsStream {
			t.Errorf("consume log of %s = %+v", name, l)
		}
	}

	var user model.User
	if err := store.Gorm().First(&user, 1).Error; err != nil {
		t.Fatal(err)
	}
	if g, w := user.UsedQuota, int64(oneAPIUsedQuota+2*chatQuota); g != w {
		t.Errorf("user used_quota = %d, want %d", g, w)
	}
	if g, w := user.Quota, int64(oneAPIUserQuota-2*chatQuota); g != w {
		t.Errorf("user quota = %d, want %d", g, w)
	}
	if g, w := user.RequestCount, oneAPIRequestCount+2; g != w {
		t.Errorf("user request_count = %d, want %d", g, w)
	}

	var limited, unlimited model.Token
	if err := store.Gorm().First(&limited, 2).Error; err != nil {
		t.Fatal(err)
	}
	if err := store.Gorm().First(&unlimited, 1).Error; err != nil {
		t.Fatal(err)
	}
	if limited.UsedQuota != chatQuota || limited.RemainQuota != oneAPITokenRemain-chatQuota {
		t.Errorf("limited token used %d remain %d, want used %d remain %d",
			limited.UsedQuota, limited.RemainQuota, chatQuota, oneAPITokenRemain-chatQuota)
	}
	// As in one-api, an unlimited token's counters are not moved.
	if unlimited.RemainQuota != 0 || unlimited.UsedQuota != oneAPIUsedQuota {
		t.Errorf("unlimited token used %d remain %d, want one-api's %d and 0 untouched",
			unlimited.UsedQuota, unlimited.RemainQuota, oneAPIUsedQuota)
	}

	var ch model.Channel
	if err := store.Gorm().First(&ch, 1).Error; err != nil {
		t.Fatal(err)
	}
	if g, w := ch.UsedQuota, int64(oneAPIUsedQuota+2*chatQuota); g != w {
		t.Errorf("channel used_quota = %d, want %d", g, w)
	}
}
