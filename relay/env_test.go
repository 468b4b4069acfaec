package relay

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/internal/testdb"
	"one-api/ledger"
	"one-api/middleware"
	"one-api/model"
	"one-api/tokenlimit"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	restore := common.SetLogOutput(io.Discard)
	code := m.Run()
	restore()
	os.Exit(code)
}

// tokenKey is the test token's key (48 characters, no "sk-").
const tokenKey = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"

// envConfig describes a test gateway; zero values are sensible defaults.
type envConfig struct {
	channels   []*model.Channel
	userQuota  int64  // default 1e9
	tokenQuota int64  // default 1e9
	unlimited  bool   // unlimited token
	models     string // the token's allow-list
	group      string // the user's group; default "default"
	role       int    // default common
	options    map[string]string
	client     *http.Client
	rand       func(int) int
	logs       model.LogSink // default DirectLogSink
	ledger     model.QuotaLedger
	tokens     model.TokenStore // default the store
	limiter    tokenlimit.Limiter
	sqlite     func(*common.SQLiteConfig)
	dialect    string // testdb dialect; default SQLite
	// streamingTimeout is Config.StreamingTimeout (default 0: no watchdog).
	streamingTimeout time.Duration
}

// env is a gateway on a fresh database (a temporary SQLite file unless
// cfg.dialect says otherwise) with one user and one token.
type env struct {
	t       testing.TB
	store   *model.Store
	options *model.OptionStore
	relay   *Relay
	engine  *gin.Engine
	userID  int
	tokenID int
	key     string // "sk-" + tokenKey
}

func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	common.SetLogOutput(io.Discard)
	conf, err := common.LoadConfig(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.sqlite != nil {
		cfg.sqlite(&conf.SQLite)
	}
	if cfg.dialect == "" {
		cfg.dialect = testdb.SQLite
	}
	conf.SQLDSN = testdb.DSN(t, cfg.dialect)
	conf.SQLitePath = filepath.Join(t.TempDir(), "one-api.db")
	// SQL_MAX_OPEN_CONNS' default (1000) lets the 64-client test open 64+
	// connections while go test runs other packages against the same server
	// (PostgreSQL allows 100 by default). SQLite has a pool of its own.
	conf.SQLMaxOpen = 16
	store, err := model.Open(model.OpenConfigFrom(conf))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if cfg.userQuota == 0 {
		cfg.userQuota = 1e9
	}
	if cfg.tokenQuota == 0 {
		cfg.tokenQuota = 1e9
	}
	if cfg.group == "" {
		cfg.group = "default"
	}
	if cfg.role == 0 {
		cfg.role = model.RoleCommon
	}
	user := &model.User{Username: "alice", Password: "x", Role: cfg.role, Status: model.UserEnabled,
		Quota: cfg.userQuota, Group: cfg.group, AffCode: "aff1", AccessToken: "at1"}
	if err := store.Gorm().Create(user).Error; err != nil {
		t.Fatal(err)
	}
	tok := &model.Token{UserID: user.ID, Key: tokenKey, Status: model.TokenEnabled, Name: "test-token",
		ExpiredTime: -1, RemainQuota: cfg.tokenQuota, UnlimitedQuota: cfg.unlimited}
	if cfg.models != "" {
		tok.Models = &cfg.models
	}
	if err := store.Gorm().Create(tok).Error; err != nil {
		t.Fatal(err)
	}
	if len(cfg.channels) > 0 {
		if err := store.CreateChannels(ctx, cfg.channels); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range cfg.options {
		if err := store.Gorm().Create(&model.Option{Key: k, Value: v}).Error; err != nil {
			t.Fatal(err)
		}
	}
	options, err := model.NewOptionStore(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.client == nil {
		cfg.client = &http.Client{}
	}
	if cfg.logs == nil {
		cfg.logs = model.NewDirectLogSink(store.LogGorm())
	}
	if cfg.ledger == nil {
		cfg.ledger = ledger.NewDirect(store.Gorm())
	}
	if cfg.tokens == nil {
		cfg.tokens = store
	}
	r, err := New(ctx, Config{
		Tokens: cfg.tokens, Ledger: cfg.ledger, Logs: cfg.logs, Options: options, Store: store,
		Client: cfg.client, UnknownModelRatio: 30, Rand: cfg.rand, Limiter: cfg.limiter,
		StreamingTimeout: cfg.streamingTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	e.Use(testRequestID())
	for _, rt := range r.Routes() {
		e.Handle(rt.Method, rt.Path, middleware.TokenAuth(r.TokenAuthConfig()), rt.Handler)
	}
	return &env{t: t, store: store, options: options, relay: r, engine: e, userID: user.ID, tokenID: tok.ID, key: "sk-" + tokenKey}
}

var testIDs atomic.Int64

// testRequestID stands in for the real request-id middleware.
func testRequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Writer.Header().Set(middleware.RequestIDHeader, fmt.Sprintf("req-%d", testIDs.Add(1)))
		c.Next()
	}
}

// channel returns an enabled channel row of type typ serving models at url.
func channel(typ int, name, url, models string) *model.Channel {
	return &model.Channel{Type: typ, Key: "ck-" + name, Status: model.ChannelEnabled, Name: name,
		BaseURL: &url, Models: models, Group: "default", CreatedTime: time.Now().Unix()}
}

// do sends a request through the engine in process.
func (e *env) do(method, path, body string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	e.engine.ServeHTTP(w, req)
	return w
}

// balances reads the user's and the token's quota columns.
type balances struct {
	UserQuota, UserUsed, TokenRemain, TokenUsed, ChannelUsed int64
	Requests                                                 int
}

func (e *env) balances(channelID int) balances {
	e.t.Helper()
	var u model.User
	var tok model.Token
	var ch model.Channel
	if err := e.store.Gorm().First(&u, e.userID).Error; err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.Gorm().First(&tok, e.tokenID).Error; err != nil {
		e.t.Fatal(err)
	}
	if channelID != 0 {
		if err := e.store.Gorm().First(&ch, channelID).Error; err != nil {
			e.t.Fatal(err)
		}
	}
	return balances{UserQuota: u.Quota, UserUsed: u.UsedQuota, TokenRemain: tok.RemainQuota, TokenUsed: tok.UsedQuota,
		ChannelUsed: ch.UsedQuota, Requests: u.RequestCount}
}

// logs returns the consume logs, oldest first.
func (e *env) logs() []model.Log {
	e.t.Helper()
	var ls []model.Log
	if err := e.store.LogGorm().Where("type = ?", model.LogConsume).Order("id").Find(&ls).Error; err != nil {
		e.t.Fatal(err)
	}
	return ls
}

// channelStatus reads a channel's status from the database.
func (e *env) channelStatus(id int) int {
	e.t.Helper()
	var ch model.Channel
	if err := e.store.Gorm().First(&ch, id).Error; err != nil {
		e.t.Fatal(err)
	}
	return ch.Status
}

// newServer serves the env's engine on a real listener (for tests that need
// a client connection: disconnects, the SDK).
func newServer(t testing.TB, e *env) *httptest.Server {
	srv := httptest.NewServer(e.engine)
	t.Cleanup(srv.Close)
	return srv
}
