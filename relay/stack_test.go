package relay_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/ledger"
	"one-api/metrics"
	"one-api/middleware"
	"one-api/model"
	"one-api/relay"
	"one-api/router"
	"one-api/tracing"
)

// This file assembles the gateway the way main.go does — real store, real
// middleware, router.RegisterRelay, the relay's three ports chosen by
// profile — for tests and benchmarks that must measure or check the whole
// request path rather than the relay behind stubs. It lives in relay_test
// because router imports relay.

// profile selects the Phase B components, as LOCAL_CACHE_ENABLED,
// BATCH_UPDATE_ENABLED and LOG_BATCH_ENABLED do in main.go, and whether
// METRICS_ENABLED is on.
type profile struct {
	cache, batchQuota, batchLogs, metrics bool
	// tracer, when set, traces requests as main.go wires it.
	tracer *tracing.Tracer
}

var (
	// allOff is the rollback profile: every read and write goes to the database.
	allOff = profile{}
	// allOn is the performance profile with metrics off.
	allOn = profile{cache: true, batchQuota: true, batchLogs: true}
)

// stack is one in-process gateway.
type stack struct {
	store  *model.Store
	engine *gin.Engine
	// metrics is nil unless the profile turns metrics on.
	metrics *metrics.Metrics
	// stmts counts every gorm statement on the store from the moment the
	// stack is built (transaction BEGIN/COMMIT are not gorm statements).
	stmts *model.StatementCounter
	// closers stop the batches in main.go's order (log batch, then quota).
	closers []func(context.Context) error
	relay   *relay.Relay
}

// testConfig is the configuration of an empty environment: every default.
func testConfig(tb testing.TB) *common.Config {
	tb.Helper()
	cfg, err := common.LoadConfig(func(string) (string, bool) { return "", false })
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// openStore opens (without migrating) the SQLite database at path with the
// default PRAGMAs and write queue.
func openStore(tb testing.TB, path string) *model.Store {
	tb.Helper()
	cfg := testConfig(tb)
	cfg.SQLitePath = path
	store, err := model.Open(model.OpenConfigFrom(cfg))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	return store
}

// newStack builds the gateway on store. The batch intervals are an hour so
// that nothing flushes on a timer: drain is the only flush, and a benchmark
// counts its statements with the requests'.
func newStack(tb testing.TB, store *model.Store, p profile) *stack {
	tb.Helper()
	return newStackWith(tb, store, p, nil)
}

// newStackWith is newStack with a hook that may change the relay's Config.
func newStackWith(tb testing.TB, store *model.Store, p profile, tweak func(*relay.Config)) *stack {
	tb.Helper()
	ctx := context.Background()
	cfg := testConfig(tb)
	cfg.Metrics.Enabled = p.metrics
	s := &stack{store: store, stmts: &model.StatementCounter{}}
	if err := store.Gorm().Use(s.stmts); err != nil {
		tb.Fatal(err)
	}
	m, err := metrics.New(cfg.Metrics, nil)
	if err != nil {
		tb.Fatal(err)
	}
	s.metrics = m
	if m != nil {
		if err := store.TimeStatements(m.RecordDB); err != nil {
			tb.Fatal(err)
		}
	}

	var tokens model.TokenStore = store
	if p.cache {
		tokens = model.NewTokenCache(store, cfg.Cache)
	}
	var quota model.QuotaLedger = ledger.NewDirect(store.Gorm())
	if p.batchQuota {
		bl := ledger.NewBatch(store.Gorm(), ledger.BatchOptions{Interval: time.Hour})
		bl.Start()
		quota = bl
		s.closers = append(s.closers, bl.Close)
	}
	var logs model.LogSink = model.NewDirectLogSink(store.LogGorm())
	if p.batchLogs {
		lc := cfg.LogBatch
		lc.Enabled, lc.FlushInterval = true, time.Hour
		lb := model.NewLogBatcher(store.LogGorm(), lc, model.LogBatcherOptions{OnFlush: m.LogFlush})
		lb.Start()
		logs = lb
		s.closers = append(s.closers, lb.Close)
	}
	// Whatever happens to the test, the batches' goroutines end with it.
	tb.Cleanup(func() { s.drain(tb) })

	options, err := model.NewOptionStore(ctx, store)
	if err != nil {
		tb.Fatal(err)
	}
	client, err := common.NewHTTPClient(cfg.HTTP)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(client.CloseIdleConnections)
	client.Transport = p.tracer.Transport(m.Transport(client.Transport))
	rc := relay.Config{
		Tokens: tokens, Ledger: quota, Logs: logs, Options: options, Store: store, Client: client,
		UnknownModelRatio: cfg.UnknownModelRatio, MaxBodyBytes: cfg.MaxRequestBodyBytes,
	}
	if tweak != nil {
		tweak(&rc)
	}
	rl, err := relay.New(ctx, rc)
	if err != nil {
		tb.Fatal(err)
	}
	s.relay = rl
	s.engine = router.New(router.Deps{
		GinMode: gin.ReleaseMode,
		Global: []gin.HandlerFunc{
			middleware.AssignRequestID(),
			middleware.ObserveTraced(m, cfg.Metrics, p.tracer),
			middleware.Recover(),
			middleware.BodyLimit(cfg.MaxRequestBodyBytes),
		},
		Register: []func(*gin.Engine){func(e *gin.Engine) { router.RegisterRelay(e, rl) }},
	})
	return s
}

// drain writes every batched row and delta, as a clean stop does. It is
// safe to call more than once.
func (s *stack) drain(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](ctx); err != nil {
			tb.Errorf("drain: %v", err)
		}
	}
}

// chat posts a chat completion with key and returns the recorded response.
func (s *stack) chat(key, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer sk-"+key)
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.engine.ServeHTTP(w, req)
	return w
}

// consumeLogs counts the consume log rows.
func (s *stack) consumeLogs(tb testing.TB) int64 {
	tb.Helper()
	var n int64
	if err := s.store.LogGorm().Model(&model.Log{}).Where("type = ?", model.LogConsume).Count(&n).Error; err != nil {
		tb.Fatal(err)
	}
	return n
}

// chatCompletion is what the fake upstreams answer: a non-stream chat
// completion reporting 10 prompt and 20 completion tokens (18 quota for
// gpt-3.5-turbo, see TestQuotaExact).
const chatCompletion = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-3.5-turbo",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}`

// chatUpstream is a bare httptest upstream answering chatCompletion (a
// recording one would add its own allocations to a benchmark's).
func chatUpstream(tb testing.TB) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, chatCompletion)
	}))
	tb.Cleanup(up.Close)
	return up
}

// tempDB is a fresh database path in tb's temporary directory.
func tempDB(tb testing.TB) string { return filepath.Join(tb.TempDir(), "one-api.db") }
