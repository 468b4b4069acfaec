// Command one-api is a self-hosted, OpenAI-compatible LLM API gateway,
// wire- and schema-compatible with one-api, with a performance patch set.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/cluster"
	"one-api/common"
	"one-api/controller"
	"one-api/health"
	"one-api/metrics"
	"one-api/middleware"
	"one-api/model"
	"one-api/pprofsrv"
	"one-api/relay"
	"one-api/router"
	"one-api/tokenlimit"
	"one-api/tracing"
	"one-api/web"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "v0.6.11-perf"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole life of the process; it returns the exit status
// (0 clean stop, 1 runtime failure, 2 bad configuration).
func run(args []string, stdout, stderr io.Writer) int {
	flags, err := common.ParseFlags(args, stderr)
	if err != nil {
		return 2
	}
	if err := common.LoadDotEnv(flags.EnvFile); err != nil {
		fmt.Fprintf(stderr, "[ERR] %v\n", err)
		return 2
	}
	cfg, err := common.LoadConfig(nil)
	if err != nil {
		fmt.Fprintf(stderr, "[ERR] configuration: %v\n", err)
		return 2
	}
	if flags.Port != 0 {
		cfg.Port = flags.Port
	}
	if flags.CheckConfig {
		common.PrintConfig(stdout, cfg)
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, stdout); err != nil {
		common.Error("%v", err)
		return 1
	}
	return 0
}

// closer is a component stopped at shutdown, in reverse order of start.
type closer struct {
	name  string
	close func(context.Context) error
}

// serve builds every component, serves until ctx is done, then stops them in
// reverse order: stop accepting, drain in-flight requests, flush the quota
// and log batches, close the database.
func serve(ctx context.Context, cfg *common.Config, stdout io.Writer) (err error) {
	common.SysLog("one-api %s starting (node %s, database %s)", Version, cfg.NodeType, cfg.Dialect())
	if cfg.SessionSecretGenerated {
		common.Warn("SESSION_SECRET is not set: using a random one, sessions end at restart")
	}

	// Components register how to stop them as they start; they are stopped
	// last-started first, after the HTTP server has drained.
	var closers []closer
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		for i := len(closers) - 1; i >= 0; i-- {
			if cerr := closers[i].close(stopCtx); cerr != nil {
				common.Error("stop %s: %v", closers[i].name, cerr)
				err = errors.Join(err, cerr)
				continue
			}
			common.SysLog("%s stopped", closers[i].name)
		}
	}()

	// Store.
	store, err := model.Open(model.OpenConfigFrom(cfg))
	if err != nil {
		return err
	}
	closers = append(closers, closer{"database", func(context.Context) error { return store.Close() }})
	if cfg.NodeType == "master" {
		if err := store.Migrate(ctx); err != nil {
			return err
		}
		creds, err := store.BootstrapRoot(ctx, cfg.InitialRootPassword, cfg.InitialRootAccessToken, strings.TrimPrefix(cfg.InitialRootToken, "sk-"))
		if err != nil {
			return err
		}
		announceRoot(stdout, creds)
	}
	options, err := model.NewOptionStore(ctx, store)
	if err != nil {
		return err
	}

	// Several nodes: Redis carries invalidations between them and holds the
	// live balances. node is nil without REDIS_CONN_STRING, and each of its
	// methods then hands back what it was given.
	node, err := cluster.Setup(ctx, cfg)
	if err != nil {
		return err
	}
	closers = append(closers, closer{"cluster", node.Close})
	options.OnSet(node.PublishOption)

	// Metrics first, so the database statements of every later component count.
	m, err := metrics.New(cfg.Metrics, nil)
	if err != nil {
		return err
	}
	if m != nil {
		if err := store.DB.Use(metrics.GormPlugin(m.RecordDB)); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		if store.LogDB != store.DB {
			if err := store.LogDB.Use(metrics.GormPlugin(m.RecordDB)); err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
		}
	}

	// Background workers that only need a stop signal share one context,
	// cancelled before the batches are flushed.
	workerCtx, stopWorkers := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	closers = append(closers, closer{"background workers", func(context.Context) error {
		stopWorkers()
		workers.Wait()
		return nil
	}})
	goWorker := func(fn func(context.Context)) {
		workers.Add(1)
		go func() { defer workers.Done(); fn(workerCtx) }()
	}

	// Phase B: the relay's three ports, cached and batched when configured.
	var tokens model.TokenStore = store
	var invalidator model.Invalidator
	var sources metrics.Sources
	if cfg.Cache.Enabled {
		tc := model.NewTokenCache(store, cfg.Cache)
		tokens, invalidator = tc, tc
		sources.CacheHits = func() uint64 { return uint64(tc.Stats().Hits) }
		sources.CacheMisses = func() uint64 { return uint64(tc.Stats().Misses) }
		common.SysLog("local token cache enabled (ttl %s)", cfg.Cache.TTL)
	}
	// The relay spends through QuotaLedger; the admin API edits and reads
	// balances through QuotaAdmin, so its views include unflushed deltas.
	direct := model.NewDirectLedger(store.DB)
	var ledger model.QuotaLedger = direct
	var quotaAdmin model.QuotaAdmin = direct
	if cfg.BatchUpdate.Enabled {
		bl := model.NewBatchLedger(store.DB, cfg.BatchUpdate, model.WithOnFlush(m.QuotaFlush))
		bl.Start()
		ledger, quotaAdmin = bl, bl
		closers = append(closers, closer{"quota batch", bl.Close})
		common.SysLog("batched quota updates enabled (interval %s)", cfg.BatchUpdate.Interval)
	}
	if ledger, quotaAdmin, err = node.Ledger(ledger, quotaAdmin); err != nil {
		return err
	}
	var logs model.LogSink = model.NewDirectLogSink(store.LogDB)
	switch {
	case !cfg.LogBatch.ConsumeEnabled:
		logs = model.DiscardLogSink{}
		common.SysLog("consume logs disabled (LOG_CONSUME_ENABLED=false): quota is still charged")
	case cfg.LogBatch.Enabled:
		lb := model.NewLogBatcher(store.LogDB, cfg.LogBatch, model.WithOnFlush(m.LogFlush))
		lb.Start()
		logs = lb
		sources.LogQueueDepth, sources.LogQueueCapacity = lb.QueueDepth, lb.QueueCapacity
		closers = append(closers, closer{"log batch", lb.Close})
		common.SysLog("batched consume logs enabled (size %d, interval %s)", cfg.LogBatch.Size, cfg.LogBatch.FlushInterval)
	}
	if cfg.LogBatch.RetentionDays > 0 && cfg.NodeType == "master" {
		r := model.NewLogRetention(store.LogDB, cfg.LogBatch.RetentionDays)
		goWorker(r.Run)
		common.SysLog("log retention: consume logs older than %d days are deleted", cfg.LogBatch.RetentionDays)
	}
	if node != nil {
		sources.RedisPing = node.Ping
	}
	m.SetSources(sources)
	if m != nil {
		goWorker(m.RunHistory)
	}
	if m != nil && cfg.Metrics.ResetInterval > 0 {
		goWorker(func(ctx context.Context) { m.Run(ctx, cfg.Metrics.ResetInterval) })
	}

	// Relay.
	client, err := common.NewHTTPClient(cfg.HTTP)
	if err != nil {
		return err
	}
	common.LogTransport(cfg.HTTP)
	tracer, err := tracing.New(cfg.Tracing, Version)
	if err != nil {
		return err
	}
	if tracer != nil {
		closers = append(closers, closer{"tracing", tracer.Shutdown})
		common.SysLog("tracing: spans go to %s (sampler %s)", cfg.Tracing.Endpoint, cfg.Tracing.Sampler)
	}
	client.Transport = tracer.Transport(m.Transport(client.Transport))
	rl, err := relay.New(ctx, relay.Config{
		Tokens: tokens, Ledger: ledger, Logs: logs, Options: options, Store: store, Client: client,
		UnknownModelRatio: cfg.UnknownModelRatio, MaxBodyBytes: cfg.MaxRequestBodyBytes,
		ChannelsChanged: node.PublishChannels, ChannelDisabled: m.ChannelDisabled,
		Limiter: node.TokenLimiter(tokenlimit.NewLocal()),
	})
	if err != nil {
		return err
	}
	invalidator, err = node.Start(ctx, cluster.Local{Tokens: invalidator, Ledger: quotaAdmin, Channels: rl.Reload, Options: options.Reload})
	if err != nil {
		return err
	}

	// Admin API and routes.
	probe := controller.NewChannelProbe(store, rl)
	closers = append(closers, closer{"channel tests", probe.Close})
	api := &controller.API{
		Store: store, Options: options, Invalidator: invalidator, Quota: quotaAdmin,
		ChannelsChanged: node.ChannelsChanged(rl.Reload), RedisStatus: node.Status,
		Channels: probe,
		Version:  Version, NodeType: cfg.NodeType, StartTime: time.Now().Unix(),
		ConsumeLogsOff: !cfg.LogBatch.ConsumeEnabled,
	}
	probes := health.New(health.Check{Name: "database", Ping: store.Ping}, health.Check{Name: "redis", Ping: sources.RedisPing})
	mw := router.NewAPIMiddleware(cfg, store)
	console, err := web.New()
	if err != nil {
		return err
	}
	engine := router.New(router.Deps{
		GinMode:        cfg.GinMode,
		TrustedProxies: cfg.TrustedProxies,
		Global: []gin.HandlerFunc{
			middleware.AssignRequestID(),
			middleware.ObserveTraced(m, cfg.Metrics, tracer),
			middleware.Recover(),
			middleware.BodyLimit(cfg.MaxRequestBodyBytes),
		},
		Register: []func(*gin.Engine){func(e *gin.Engine) {
			groups := router.RegisterAPI(e, api, mw)
			router.RegisterMetrics(e, groups.Admin, controller.NewMetrics(m).WithSettings(cfg), mw.Auth.Admin(), cfg.Metrics.Public)
			router.RegisterRelay(e, rl)
			router.RegisterBilling(e, api, middleware.TokenAuth(middleware.TokenAuthConfig{Tokens: tokens}))
			console.Register(e)
		}, probes.Register},
	})

	// Profiling, on its own loopback listener.
	if ps := pprofsrv.New(cfg.Pprof); ps != nil {
		if err := ps.Start(); err != nil {
			return err
		}
		closers = append(closers, closer{"pprof", ps.Shutdown})
	}

	// HTTP server. It is the last thing started and the first stopped:
	// Shutdown stops accepting and waits for in-flight requests, whose
	// quota and logs then sit in the batches flushed after it.
	srv := &http.Server{Handler: engine, ReadHeaderTimeout: 30 * time.Second}
	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.ListenAddr(), err)
	}
	common.SysLog("listening on %s", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// /readyz answers 503 from now on; SHUTDOWN_DELAY gives load balancers
	// time to see it before the listener closes. The delay is spent out of
	// the SHUTDOWN_TIMEOUT budget, which starts now.
	probes.Drain()
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if cfg.ShutdownDelay > 0 {
		common.SysLog("shutting down: /readyz answers 503, closing the listener in %s", cfg.ShutdownDelay)
		time.Sleep(cfg.ShutdownDelay)
	}
	common.SysLog("shutting down: draining in-flight requests (up to %s)", cfg.ShutdownTimeout-cfg.ShutdownDelay)
	if err := srv.Shutdown(drainCtx); err != nil {
		common.Warn("drain incomplete: %v", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		common.Error("serve: %v", err)
	}
	common.SysLog("HTTP server stopped")
	return nil
}

// announceRoot prints generated root credentials once, at first start: they
// are shown nowhere else and never logged again. Configured ones are not
// echoed: the operator has them, and stdout ends up in the journal.
func announceRoot(w io.Writer, creds *model.RootCredentials) {
	if creds == nil {
		return
	}
	if !creds.PasswordGenerated && !creds.AccessTokenGenerated {
		common.SysLog("root user created from INITIAL_ROOT_* settings")
		return
	}
	fmt.Fprintf(w, "[SYS] root user created; save these now, they are not shown again:\n[SYS]   username:     root\n")
	if creds.PasswordGenerated {
		fmt.Fprintf(w, "[SYS]   password:     %s\n", creds.Password)
	}
	if creds.AccessTokenGenerated {
		fmt.Fprintf(w, "[SYS]   access token: %s\n", creds.AccessToken)
	}
}
