package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"one-api/common"
	"one-api/controller"
	"one-api/internal/testdb"
	"one-api/middleware"
	"one-api/model"
	"one-api/router"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The store and handlers log through the process logger; keep test
	// output readable unless -v asks for everything.
	if !testing.Verbose() {
		common.SetLogOutput(io.Discard)
	}
	os.Exit(m.Run())
}

// Root's credentials in every test environment.
const (
	rootPassword = "root-password-for-tests"
	rootToken    = "roottokenroottokenroottokenroot1" // 32 characters
)

// testEnv is a gateway admin API on a fresh database (SQLite unless
// withDialect says otherwise), built the way main builds it (router.New +
// RegisterAPI), with recording fakes for the cache invalidator and the
// routing-table hook.
type testEnv struct {
	t        *testing.T
	cfg      *common.Config
	store    *model.Store
	options  *model.OptionStore
	engine   *gin.Engine
	inv      *fakeInvalidator
	rebuilds atomic.Int32
	rootID   int
	quota    model.QuotaAdmin // nil: the API's default, a ledger.Direct
	probe    *controller.ChannelProbe
	upstream *http.Client // see envOptions.upstream
}

type envOptions struct {
	dialect string // testdb dialect; default SQLite
	noRoot  bool
	config  func(*common.Config)
	quota   func(t *testing.T, s *model.Store) model.QuotaAdmin
	// upstream, when set, gives the API a relay (and so the channel
	// routes that call upstreams) sending through this client.
	upstream *http.Client
}

// newEnv builds a test environment with a root user (unless noRoot).
func newEnv(t *testing.T, opts ...func(*envOptions)) *testEnv {
	t.Helper()
	var o envOptions
	for _, f := range opts {
		f(&o)
	}
	cfg := defaultConfig(t)
	if o.config != nil {
		o.config(cfg)
	}
	ctx := context.Background()
	store := openStore(t, cfg, o.dialect)
	e := &testEnv{t: t, cfg: cfg, store: store, inv: &fakeInvalidator{}, upstream: o.upstream}
	if o.quota != nil {
		e.quota = o.quota(t, store)
	}
	if !o.noRoot {
		e.rootID = e.addUser("root", rootPassword, rootToken, model.RoleRoot)
	}
	e.build(ctx)
	return e
}

// build loads the options and assembles the admin API on e's store; a
// second environment built on the same database is a second node.
func (e *testEnv) build(ctx context.Context) {
	e.t.Helper()
	var err error
	if e.options, err = model.NewOptionStore(ctx, e.store); err != nil {
		e.t.Fatalf("options: %v", err)
	}
	api := &controller.API{
		Store: e.store, Options: e.options, Invalidator: e.inv, Quota: e.quota,
		ChannelsChanged: func(context.Context) error { e.rebuilds.Add(1); return nil },
		BcryptCost:      bcrypt.MinCost, Version: "v-test", NodeType: "master", StartTime: 1700000000,
	}
	if e.upstream != nil {
		e.withRelay(api, e.upstream)
	}
	mw := router.NewAPIMiddleware(e.cfg, e.store)
	e.engine = router.New(router.Deps{
		GinMode: gin.TestMode,
		Global: []gin.HandlerFunc{
			middleware.AssignRequestID(), middleware.Recover(), middleware.BodyLimit(e.cfg.MaxRequestBodyBytes),
		},
		Register: []func(*gin.Engine){func(r *gin.Engine) {
			router.RegisterAPI(r, api, mw)
			router.RegisterBilling(r, api, middleware.TokenAuth(middleware.TokenAuthConfig{Tokens: e.store}))
		}},
	})
}

// defaultConfig is the configuration with no environment set.
func defaultConfig(t *testing.T) *common.Config {
	t.Helper()
	cfg, err := common.LoadConfig(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("default config: %v", err)
	}
	cfg.GinMode = gin.TestMode
	return cfg
}

// openStore opens and migrates a fresh database of dialect ("" is SQLite)
// with cfg's settings, pointing cfg's SQLDSN or SQLitePath at it.
func openStore(t *testing.T, cfg *common.Config, dialect string) *model.Store {
	t.Helper()
	if dialect == "" {
		dialect = testdb.SQLite
	}
	cfg.SQLDSN = testdb.DSN(t, dialect)
	cfg.SQLitePath = filepath.Join(t.TempDir(), "one-api.db")
	store, err := model.Open(model.OpenConfigFrom(cfg))
	if err != nil {
		t.Fatalf("open %s store: %v", dialect, err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", dialect, err)
	}
	return store
}

// withDialect puts the environment on a fresh database of dialect.
func withDialect(dialect string) func(*envOptions) {
	return func(o *envOptions) { o.dialect = dialect }
}

func withoutRoot(o *envOptions) { o.noRoot = true }

func withConfig(f func(*common.Config)) func(*envOptions) {
	return func(o *envOptions) { o.config = f }
}

// withQuota gives the API the ledger ledger builds (e.quota).
func withQuota(ledger func(t *testing.T, s *model.Store) model.QuotaAdmin) func(*envOptions) {
	return func(o *envOptions) { o.quota = ledger }
}

// addUser inserts an enabled user directly, with a cheap bcrypt hash so
// that tests stay fast; it returns the user id.
func (e *testEnv) addUser(username, password, accessToken string, role int) int {
	e.t.Helper()
	if accessToken == "" {
		// users.access_token is unique: every user gets one, as in one-api.
		accessToken = common.RandomString(32)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &model.User{Username: username, Password: string(hash), DisplayName: username, Role: role,
		Status: model.UserEnabled, AccessToken: accessToken, Group: "default",
		AffCode: common.RandomString(4), Quota: 1000}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		e.t.Fatalf("add user %s: %v", username, err)
	}
	return u.ID
}

// request describes one call; zero fields are left out.
type request struct {
	method string
	path   string
	auth   string // Authorization header
	body   any    // JSON-encoded unless []byte or io.Reader
	cookie *http.Cookie
	ip     string // client address, default 192.0.2.1
}

// response is a recorded answer with its envelope decoded.
type response struct {
	*httptest.ResponseRecorder
	env envelope
}

type envelope struct {
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func (e *testEnv) do(r request) response {
	e.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case io.Reader:
		body = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	if r.cookie != nil {
		req.AddCookie(r.cookie)
	}
	if r.ip != "" {
		req.RemoteAddr = r.ip + ":1234"
	}
	rec := httptest.NewRecorder()
	e.engine.ServeHTTP(rec, req)
	res := response{ResponseRecorder: rec}
	if rec.Body.Len() > 0 && rec.Header().Get("Content-Type") != "" {
		_ = json.Unmarshal(rec.Body.Bytes(), &res.env)
	}
	return res
}

// ok calls and fails the test unless the answer is HTTP 200 success=true.
func (e *testEnv) ok(r request) response {
	e.t.Helper()
	res := e.do(r)
	if res.Code != http.StatusOK || !res.env.Success {
		e.t.Fatalf("%s %s: got %d %s, want 200 success", r.method, r.path, res.Code, res.Body.String())
	}
	return res
}

// refused calls and fails the test unless the answer is HTTP 200
// success=false (a handled error); it returns the message.
func (e *testEnv) refused(r request) string {
	e.t.Helper()
	res := e.do(r)
	if res.Code != http.StatusOK || res.env.Success {
		e.t.Fatalf("%s %s: got %d %s, want 200 success=false", r.method, r.path, res.Code, res.Body.String())
	}
	return res.env.Message
}

// data decodes the envelope's data into a T.
func data[T any](t *testing.T, res response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(res.env.Data, &v); err != nil {
		t.Fatalf("decode data %s: %v", res.env.Data, err)
	}
	return v
}

// fakeInvalidator records what the API invalidated.
type fakeInvalidator struct {
	mu     sync.Mutex
	tokens []string
	users  []int
}

func (f *fakeInvalidator) TokenChanged(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, key)
}

func (f *fakeInvalidator) UserChanged(id int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users = append(f.users, id)
}

func (f *fakeInvalidator) sawToken(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.tokens {
		if k == key {
			return true
		}
	}
	return false
}

func (f *fakeInvalidator) sawUser(id int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u == id {
			return true
		}
	}
	return false
}
