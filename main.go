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
	"syscall"
	"time"

	"one-api/common"
	"one-api/model"
	"one-api/router"
)

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

// serve builds every component, serves until ctx is done, then stops them in
// reverse order: stop accepting, drain in-flight requests, flush batches,
// close the database.
func serve(ctx context.Context, cfg *common.Config, stdout io.Writer) error {
	common.SysLog("one-api starting (node %s, database %s)", cfg.NodeType, cfg.Dialect())
	if cfg.SessionSecretGenerated {
		common.Warn("SESSION_SECRET is not set: using a random one, sessions end at restart")
	}

	store, err := model.Open(model.OpenConfigFrom(cfg))
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			common.Error("close database: %v", err)
		}
		common.SysLog("database closed")
	}()
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
	_ = options

	engine := router.New(router.Deps{GinMode: cfg.GinMode})

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
	common.SysLog("shutting down: draining in-flight requests (up to %s)", cfg.ShutdownTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
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
// are shown nowhere else and never logged again.
func announceRoot(w io.Writer, creds *model.RootCredentials) {
	if creds == nil {
		return
	}
	if !creds.Generated {
		common.SysLog("root user created from INITIAL_ROOT_* settings")
		return
	}
	fmt.Fprintf(w, "[SYS] root user created; save these now, they are not shown again:\n")
	fmt.Fprintf(w, "[SYS]   username:     root\n[SYS]   password:     %s\n[SYS]   access token: %s\n", creds.Password, creds.AccessToken)
}
