package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/cluster"
	"one-api/common"
	"one-api/controller"
	"one-api/health"
	"one-api/ledger"
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

// server holds what the start-up steps build, in the order serve runs
// them; each step registers how to stop what it started on closers.
type server struct {
	cfg     *common.Config
	stdout  io.Writer
	closers closerStack
	// stopBy, once set (the stop began), is when everything must be down.
	stopBy time.Time

	store   *model.Store
	options *model.OptionStore
	node    *cluster.Node
	metrics *metrics.Metrics

	tokens      model.TokenStore
	invalidator model.Invalidator
	ledger      model.QuotaLedger
	quotaAdmin  model.QuotaAdmin
	logs        model.LogSink
	biller      model.Biller // set when one group committer settles and logs

	sources metrics.Sources
	tracer  *tracing.Tracer

	relay  *relay.Relay
	probes *health.Checker
	engine *gin.Engine
}

// maxHeaderBytes bounds a client's request headers (Go's default is 1 MiB
// per connection); 64 KiB is far above any real client's.
const maxHeaderBytes = 64 << 10

// checkStartup makes every check start-up needs short of opening the
// database, for both a start and --check-config.
func checkStartup(cfg *common.Config) error {
	if cfg.Dialect() == "sqlite" {
		if err := checkSQLiteDir(cfg.SQLitePath); err != nil {
			return err
		}
	}
	if cfg.RedisURL != "" {
		if err := cluster.CheckURL(cfg.RedisURL); err != nil {
			return err
		}
	}
	return nil
}

// checkSQLiteDir says in the operator's terms why the database file could
// not be created: SQLite's own message is "unable to open database file: no
// such file or directory", naming neither the variable nor the directory.
func checkSQLiteDir(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("SQLITE_PATH=%q: directory %s does not exist; create it or point SQLITE_PATH elsewhere", path, dir)
	case err != nil:
		return fmt.Errorf("SQLITE_PATH=%q: %w", path, err)
	case !fi.IsDir():
		return fmt.Errorf("SQLITE_PATH=%q: %s is not a directory", path, dir)
	}
	// SQLite writes the -wal and -shm files next to the database, so the
	// directory itself must be writable, not just an existing file.
	probe, err := os.CreateTemp(dir, ".one-api-write-check-*")
	if err != nil {
		return fmt.Errorf("SQLITE_PATH=%q: directory %s is not writable by this user (the database and its -wal/-shm files live there)", path, dir)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// openStore opens the database; on the master it migrates and creates the
// root user, then loads the options.
func (g *server) openStore(ctx context.Context) error {
	store, err := model.Open(model.OpenConfigFrom(g.cfg))
	if err != nil {
		return err
	}
	g.store = store
	g.closers.push("database", func(context.Context) error { return store.Close() })
	if g.cfg.NodeType == "master" {
		if err := store.Migrate(ctx); err != nil {
			return err
		}
		creds, err := store.BootstrapRoot(ctx, g.cfg.InitialRootPassword, g.cfg.InitialRootAccessToken, strings.TrimPrefix(g.cfg.InitialRootToken, "sk-"))
		if err != nil {
			return err
		}
		announceRoot(g.stdout, creds)
	}
	g.options, err = model.NewOptionStore(ctx, store)
	return err
}

// joinCluster connects to Redis when REDIS_CONN_STRING is set: it carries
// invalidations between nodes and holds the live balances. node is nil
// otherwise, and each of its methods then hands back what it was given.
func (g *server) joinCluster(ctx context.Context) error {
	node, err := cluster.Setup(ctx, g.cfg)
	if err != nil {
		return err
	}
	g.node = node
	g.closers.push("cluster", node.Close)
	g.options.OnSet(node.PublishOption)
	return nil
}

// startMetrics builds the collector and counts every later database
// statement.
func (g *server) startMetrics(context.Context) error {
	m, err := metrics.New(g.cfg.Metrics, nil)
	if err != nil {
		return err
	}
	g.metrics = m
	if m == nil {
		return nil
	}
	if err := g.store.TimeStatements(m.RecordDB); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// buildPorts chooses the relay's three ports (Phase B: cached and batched
// when configured) and starts the background workers.
func (g *server) buildPorts(ctx context.Context) error {
	cfg, m, store := g.cfg, g.metrics, g.store
	// Workers that only need a stop signal share one context. They were
	// started before the batches below, so they stop after those flush.
	workerCtx, stopWorkers := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	g.closers.push("background workers", func(context.Context) error {
		stopWorkers()
		workers.Wait()
		return nil
	})
	goWorker := func(fn func(context.Context)) {
		workers.Add(1)
		go func() { defer workers.Done(); fn(workerCtx) }()
	}

	g.tokens = store
	sources := &g.sources
	if cfg.Cache.Enabled {
		tc := model.NewTokenCache(store, cfg.Cache)
		g.tokens, g.invalidator = tc, tc
		sources.CacheHits = func() uint64 { return uint64(tc.Stats().Hits) }
		sources.CacheMisses = func() uint64 { return uint64(tc.Stats().Misses) }
		common.SysLog("local token cache enabled (ttl %s)", cfg.Cache.TTL)
	}
	// The relay spends through QuotaLedger; the admin API edits and reads
	// balances through QuotaAdmin, so its views include unflushed deltas.
	direct := ledger.DirectFor(store)
	g.ledger, g.quotaAdmin = direct, direct
	if cfg.BatchUpdate.Enabled {
		bl := ledger.BatchFor(store, ledger.BatchOptions{Interval: cfg.BatchUpdate.Interval, OnFlush: m.QuotaFlush})
		bl.Start()
		g.ledger, g.quotaAdmin = bl, bl
		g.closers.push("quota batch", bl.Close)
		common.SysLog("batched quota updates enabled (interval %s)", cfg.BatchUpdate.Interval)
	}
	var group *model.GroupLedger
	var hold *ledger.Hold
	if !cfg.BatchUpdate.Enabled && cfg.BatchUpdate.GroupCommit {
		// Pushed here, so it closes after the log batcher and before the
		// database, like the quota batch it stands in for.
		group = store.GroupLedger()
		g.ledger, g.quotaAdmin = group, group
		g.closers.push("group commit", group.Close)
		if cfg.Dialect() == "sqlite" && g.node == nil {
			// One process owns the file: reservations can be held in
			// memory, and the bill is each request's only commit.
			hold = ledger.HoldFor(store, group)
			g.ledger, g.quotaAdmin = hold, hold
		}
	}
	var err error
	if g.ledger, g.quotaAdmin, err = g.node.Ledger(ctx, g.ledger, g.quotaAdmin); err != nil {
		return err
	}
	g.logs = store.DirectLogSink()
	switch {
	case !cfg.LogBatch.ConsumeEnabled:
		g.logs = model.DiscardLogSink{}
		common.SysLog("consume logs disabled (LOG_CONSUME_ENABLED=false): quota is still charged")
	case cfg.LogBatch.Enabled:
		lb := store.LogBatcher(cfg.LogBatch, model.LogBatcherOptions{OnFlush: m.LogFlush})
		lb.Start()
		g.logs = lb
		sources.LogQueueDepth, sources.LogQueueCapacity = lb.QueueDepth, lb.QueueCapacity
		g.closers.push("log batch", lb.Close)
		common.SysLog("batched consume logs enabled (size %d, interval %s)", cfg.LogBatch.Size, cfg.LogBatch.FlushInterval)
	case group != nil:
		g.logs = group
	}
	if group != nil && g.logs == model.LogSink(group) {
		switch g.ledger {
		case model.QuotaLedger(group):
			g.biller = group
		case model.QuotaLedger(hold):
			g.biller = hold
		}
	}
	if g.biller != nil {
		common.SysLog("group commit: concurrent requests' quota updates and consume logs share transactions")
	}
	if hold != nil {
		common.SysLog("group commit: quota reservations held in memory (SQLite, one process owns the file); each request commits once, its bill")
	}
	if cfg.LogBatch.RetentionDays > 0 && cfg.NodeType == "master" {
		r := store.LogRetention(cfg.LogBatch.RetentionDays, model.LogRetentionOptions{})
		goWorker(r.Run)
		common.SysLog("log retention: consume logs older than %d days are deleted", cfg.LogBatch.RetentionDays)
	}
	if g.node != nil {
		sources.RedisPing = g.node.Ping
	}
	m.SetSources(*sources)
	if m != nil {
		goWorker(m.RunHistory)
	}
	if m != nil && cfg.Metrics.ResetInterval > 0 {
		goWorker(func(ctx context.Context) { m.Run(ctx, cfg.Metrics.ResetInterval) })
	}
	return nil
}

// startRelay builds the upstream client and the relay (which loads the
// routing table), and starts the cluster's listeners.
func (g *server) startRelay(ctx context.Context) error {
	cfg := g.cfg
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
		g.closers.push("tracing", tracer.Shutdown)
		common.SysLog("tracing: spans go to %s (sampler %s)", cfg.Tracing.Endpoint, cfg.Tracing.Sampler)
	}
	g.tracer = tracer
	client.Transport = tracer.Transport(g.metrics.Transport(client.Transport))
	g.relay, err = relay.New(ctx, relay.Config{
		Tokens: g.tokens, Ledger: g.ledger, Logs: g.logs, Biller: g.biller, Options: g.options, Store: g.store, Client: client,
		UnknownModelRatio: cfg.UnknownModelRatio, MaxBodyBytes: cfg.MaxRequestBodyBytes,
		UpstreamMaxBodyBytes: cfg.UpstreamMaxBodyBytes, StreamingTimeout: cfg.StreamingTimeout,
		ChannelsChanged: g.node.PublishChannels, ChannelDisabled: g.metrics.ChannelDisabled,
		Limiter: g.node.TokenLimiter(tokenlimit.NewLocal()),
	})
	if err != nil {
		return err
	}
	g.invalidator, err = g.node.Start(ctx, cluster.Local{Tokens: g.invalidator, Ledger: g.quotaAdmin, Channels: g.relay.Reload, Options: g.options.Reload})
	return err
}

// buildHandler assembles the admin API and the engine, and starts pprof on
// its own loopback listener.
func (g *server) buildHandler(context.Context) error {
	cfg, rl, node := g.cfg, g.relay, g.node
	probe := controller.NewChannelProbe(g.store, rl)
	g.closers.push("channel tests", probe.Close)
	api := &controller.API{
		Store: g.store, Options: g.options, Invalidator: g.invalidator, Quota: g.quotaAdmin,
		ChannelsChanged: node.ChannelsChanged(rl.Reload), RedisStatus: node.Status,
		Channels: probe,
		Version:  Version, NodeType: cfg.NodeType, StartTime: time.Now().Unix(),
		ConsumeLogsOff: !cfg.LogBatch.ConsumeEnabled,
	}
	g.probes = health.New(health.Check{Name: "database", Ping: g.store.Ping}, health.Check{Name: "redis", Ping: g.sources.RedisPing})
	mw := router.NewAPIMiddleware(cfg, g.store)
	console, err := web.New()
	if err != nil {
		return err
	}
	g.engine = router.New(router.Deps{
		GinMode:        cfg.GinMode,
		TrustedProxies: cfg.TrustedProxies,
		Global: []gin.HandlerFunc{
			middleware.AssignRequestID(),
			middleware.ObserveTraced(g.metrics, cfg.Metrics, g.tracer),
			middleware.Recover(),
			middleware.BodyLimit(cfg.MaxRequestBodyBytes),
		},
		Register: []func(*gin.Engine){func(e *gin.Engine) {
			groups := router.RegisterAPI(e, api, mw)
			router.RegisterMetrics(e, groups.Admin, controller.NewMetrics(g.metrics).WithSettings(cfg), mw.Auth.Admin(), cfg.Metrics.Public)
			router.RegisterRelay(e, rl)
			router.RegisterBilling(e, api, middleware.TokenAuth(middleware.TokenAuthConfig{Tokens: g.tokens}))
			console.Register(e)
		}, g.probes.Register},
	})
	if ps := pprofsrv.New(cfg.Pprof); ps != nil {
		if err := ps.Start(); err != nil {
			return err
		}
		g.closers.push("pprof", ps.Shutdown)
	}
	return nil
}

// serveHTTP serves until ctx is done, then stops within one budget,
// SHUTDOWN_TIMEOUT, shared by every part of the stop:
//
//  1. drain (two thirds of it): stop accepting, let in-flight requests
//     finish on their own;
//  2. settle: end the requests still running (relay.EndInFlight: a final
//     error event, delivered output billed, the rest refunded) and wait
//     for their handlers;
//  3. flush and close (what is left, at least a third): the closers, last
//     started first, write the batched logs and quota and close the
//     database (serve's deferred closeAll).
func (g *server) serveHTTP(ctx context.Context) error {
	cfg := g.cfg
	srv := &http.Server{
		Handler:           g.engine,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       cfg.ClientIdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.ListenAddr(), err)
	}
	common.SysLog("listening on %s", ln.Addr())
	common.SysLog("web console: %s", consoleURL(ln.Addr()))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	start := time.Now()
	g.stopBy = start.Add(cfg.ShutdownTimeout)
	drainBy := start.Add(cfg.ShutdownTimeout * 2 / 3)
	// /readyz answers 503 from now on; SHUTDOWN_DELAY gives load balancers
	// time to see it before the listener closes. The delay is spent out of
	// the drain's share of the budget, which starts now.
	g.probes.Drain()
	if cfg.ShutdownDelay > 0 {
		common.SysLog("shutting down: /readyz answers 503, closing the listener in %s", cfg.ShutdownDelay)
		time.Sleep(cfg.ShutdownDelay)
	}
	common.SysLog("shutting down: draining in-flight requests (up to %s of the %s stop budget)", drainBy.Sub(start).Round(time.Millisecond), cfg.ShutdownTimeout)
	drainCtx, cancel := context.WithDeadline(context.Background(), drainBy)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		common.Warn("drain incomplete after %s: ending the requests still in flight", drainBy.Sub(start).Round(time.Millisecond))
		g.relay.EndInFlight()
		// Shutdown again waits for the handlers, now ending, to return.
		settleCtx, cancel := context.WithDeadline(context.Background(), g.stopBy)
		defer cancel()
		if err := srv.Shutdown(settleCtx); err != nil {
			common.Error("requests still running at the end of the stop budget: %v", err)
		}
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		common.Error("serve: %v", err)
	}
	common.SysLog("HTTP server stopped")
	return nil
}

// stopDeadline is when the closers must be done: the stop budget's end
// once the stop began, else (a failed start) a budget from now.
func (g *server) stopDeadline() time.Time {
	if g.stopBy.IsZero() {
		return time.Now().Add(g.cfg.ShutdownTimeout)
	}
	return g.stopBy
}

// closerStack stops components in reverse order of their start.
type closerStack []closer

type closer struct {
	name  string
	close func(context.Context) error
}

func (s *closerStack) push(name string, fn func(context.Context) error) {
	*s = append(*s, closer{name, fn})
}

// closeAll runs every closer, last pushed first, until deadline.
func (s closerStack) closeAll(deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var errs error
	for i := len(s) - 1; i >= 0; i-- {
		if err := s[i].close(ctx); err != nil {
			common.Error("stop %s: %v", s[i].name, err)
			errs = errors.Join(errs, err)
			continue
		}
		common.SysLog("%s stopped", s[i].name)
	}
	return errs
}

// consoleURL is the address a person opens in a browser: the listener's,
// with localhost for an any-address listener.
func consoleURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
