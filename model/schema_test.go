package model_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"one-api/common"
	"one-api/controller"
	"one-api/middleware"
	"one-api/model"
	"one-api/router"
)

// A database exactly as one-api v0.6.11 leaves it: its schema (dumped from
// a real instance) and rows written the way its code writes them.
const (
	oneAPIAccessToken = "0123456789abcdef0123456789abcdef"                 // a UUID without dashes
	oneAPIKey         = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijkl" // 48 characters, no sk-
	oneAPILimitedKey  = "limitedkeylimitedkeylimitedkeylimitedkeylimited1"
	oneAPIChannelKey  = "sk-upstream-secret-key"
	oneAPIPassword    = "one-api-root-password"
)

func oneAPISeed(t *testing.T) []string {
	hash, err := bcrypt.GenerateFromPassword([]byte(oneAPIPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return []string{
		"INSERT INTO users (id, username, password, display_name, role, status, email, github_id, wechat_id, lark_id, oidc_id, access_token, quota, used_quota, request_count, `group`, aff_code, inviter_id) VALUES " +
			"(1, 'root', '" + string(hash) + "', 'Root User', 100, 1, '', '', '', '', '', '" + oneAPIAccessToken + "', 500000000000000, 1200, 3, 'default', 'Xy9z', 0)," +
			"(2, 'alice', '" + string(hash) + "', 'alice', 1, 1, '', '', '', '', '', 'aliceaccesstokenaliceaccesstoken', 1000, 0, 0, 'vip', 'Ab12', 0)",
		"INSERT INTO tokens (id, user_id, `key`, status, name, created_time, accessed_time, expired_time, remain_quota, unlimited_quota, used_quota, models, subnet) VALUES " +
			"(1, 1, '" + oneAPIKey + "', 1, 'default', 1700000000, 1700000100, -1, 0, 1, 1200, NULL, '')," +
			"(2, 1, '" + oneAPILimitedKey + "', 1, 'limited', 1700000000, 1700000000, 1900000000, 5000, 0, 0, 'gpt-4o-mini', '')," +
			"(3, 2, 'alicekeyalicekeyalicekeyalicekeyalicekeyalicekey', 1, 'alice', 1700000000, 1700000000, -1, 100, 0, 0, '', '')",
		"INSERT INTO channels (id, type, `key`, status, name, weight, created_time, test_time, response_time, base_url, other, balance, balance_updated_time, models, `group`, used_quota, model_mapping, priority, config, system_prompt) VALUES " +
			"(1, 1, '" + oneAPIChannelKey + "', 1, 'openai', 0, 1700000000, 0, 0, 'https://api.openai.com', '', 0, 0, 'gpt-3.5-turbo,gpt-4o-mini', 'default,vip', 1200, '', 0, '{}', NULL)," +
			"(2, 50, 'sk-second', 2, 'backup', 10, 1700000000, 0, 0, '', '', 0, 0, 'gpt-4o-mini', 'default', 0, '{\"gpt-4o-mini\":\"gpt-4o-mini-2024-07-18\"}', 5, '{}', NULL)",
		"INSERT INTO abilities (`group`, model, channel_id, enabled, priority) VALUES " +
			"('default', 'gpt-3.5-turbo', 1, 1, 0), ('default', 'gpt-4o-mini', 1, 1, 0), ('vip', 'gpt-3.5-turbo', 1, 1, 0), ('vip', 'gpt-4o-mini', 1, 1, 0)," +
			"('default', 'gpt-4o-mini', 2, 0, 5)",
		"INSERT INTO options (`key`, value) VALUES ('RetryTimes', '2'), ('QuotaPerUnit', '500000'), ('GitHubClientSecret', 'shh')",
		"INSERT INTO logs (id, user_id, created_at, type, content, username, token_name, model_name, quota, prompt_tokens, completion_tokens, channel_id, request_id, elapsed_time, is_stream, system_prompt_reset) VALUES " +
			"(1, 1, 1700000200, 2, 'model rate 0.25', 'root', 'default', 'gpt-3.5-turbo', 1200, 100, 20, 1, '20231114000000abcdefgh', 350, 0, 0)",
		"INSERT INTO redemptions (id, user_id, `key`, status, name, quota, created_time, redeemed_time) VALUES " +
			"(1, 1, 'redeemredeemredeemredeemredeem12', 1, 'gift', 100000, 1700000000, 0)",
	}
}

// addedColumns are the columns Migrate adds to one-api's tables, as SQLite
// records them in the table's definition: nullable, so rows one-api writes
// later get NULL (no limit).
var addedColumns = map[string]string{
	"tokens": ", `rpm_limit` integer",
}

// schemaSQL is sqlite_master's name → sql for every table and index.
func schemaSQL(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.Query("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, text string
		if err := rows.Scan(&name, &text); err != nil {
			t.Fatal(err)
		}
		out[name] = text
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOneAPIDatabaseOpensUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "one-api.db")
	schema, err := os.ReadFile("testdata/oneapi-v0.6.11.schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range append(strings.Split(string(schema), ";\n"), oneAPISeed(t)...) {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			if _, err := raw.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	before := schemaSQL(t, raw)
	raw.Close()

	cfg, err := common.LoadConfig(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.SQLitePath = path
	store, err := model.Open(model.OpenConfigFrom(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		t.Fatalf("migrate a one-api database: %v", err)
	}
	sqlDB, err := store.Gorm().DB()
	if err != nil {
		t.Fatal(err)
	}
	after := schemaSQL(t, sqlDB)
	for name, want := range before {
		got := after[name]
		// The one column this gateway adds (ALTER TABLE … ADD COLUMN, which
		// SQLite records after the last column); one-api's queries name their
		// columns or scan into structs without it.
		if add, ok := addedColumns[name]; ok {
			want = strings.Replace(want, ",PRIMARY KEY", add+",PRIMARY KEY", 1)
		}
		if got != want {
			t.Errorf("migration changed %s:\n got  %s\n want %s", name, got, want)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Logf("migration added %s", name)
		}
	}
	if creds, err := store.BootstrapRoot(ctx, "", "", ""); err != nil || creds != nil {
		t.Errorf("bootstrap on a database with users = %v, %v; want nothing done", creds, err)
	}

	options, err := model.NewOptionStore(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	if g := options.Get().RetryTimes; g != 2 {
		t.Errorf("RetryTimes = %d, want one-api's stored 2", g)
	}
	api := &controller.API{Store: store, Options: options, Version: "schema-test", NodeType: "master"}
	engine := router.New(router.Deps{
		GinMode:  gin.TestMode,
		Global:   []gin.HandlerFunc{middleware.AssignRequestID(), middleware.Recover()},
		Register: []func(*gin.Engine){func(e *gin.Engine) { router.RegisterAPI(e, api, router.NewAPIMiddleware(cfg, store)) }},
	})
	get := func(path, auth string, out any) string {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		engine.ServeHTTP(rec, req)
		var env struct {
			Success bool
			Data    json.RawMessage
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || rec.Code != http.StatusOK || !env.Success {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
		}
		if err := json.Unmarshal(env.Data, out); err != nil {
			t.Fatalf("GET %s data: %v", path, err)
		}
		return rec.Body.String()
	}

	var self model.User
	get("/api/user/self", "Bearer "+oneAPIAccessToken, &self)
	if self.ID != 1 || self.Role != model.RoleRoot || self.Quota != 500000000000000 {
		t.Errorf("self = %+v, want one-api's root", self)
	}

	var channels []model.Channel
	body := get("/api/channel/", oneAPIAccessToken, &channels)
	if len(channels) != 2 || channels[0].Name != "backup" || channels[1].Name != "openai" || channels[1].Group != "default,vip" ||
		channels[0].ModelMapping == nil || *channels[0].ModelMapping == "" || *channels[0].Priority != 5 {
		t.Errorf("channels = %+v, want one-api's two channels as stored", channels)
	}
	if strings.Contains(body, "upstream-secret") {
		t.Error("channel list shows a key")
	}

	var tokens []model.Token
	get("/api/token/", oneAPIAccessToken, &tokens)
	byKey := map[string]model.Token{}
	for _, tok := range tokens {
		byKey[tok.Key] = tok
	}
	if len(tokens) != 2 || !byKey[oneAPIKey].UnlimitedQuota || byKey[oneAPIKey].ExpiredTime != -1 ||
		byKey[oneAPILimitedKey].RemainQuota != 5000 || *byKey[oneAPILimitedKey].Models != "gpt-4o-mini" {
		t.Errorf("root's tokens = %+v, want one-api's two tokens, keys without sk-", tokens)
	}
	// The relay's lookup resolves one-api's keys.
	for _, key := range []string{oneAPIKey, oneAPILimitedKey} {
		if auth, err := store.GetTokenAuth(ctx, key); err != nil || auth.UserID != 1 || auth.Group != "default" || auth.RPMLimit != 0 {
			t.Errorf("token auth for a one-api key = %+v, %v", auth, err)
		}
	}

	var logs []model.Log
	get("/api/log/?type=2", oneAPIAccessToken, &logs)
	if len(logs) != 1 || logs[0].Quota != 1200 || logs[0].ChannelID != 1 {
		t.Errorf("logs = %+v, want one-api's consume log", logs)
	}
}
