// Command one-api is a self-hosted, OpenAI-compatible LLM API gateway,
// wire- and schema-compatible with one-api, with a performance patch set.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"one-api/common"
	"one-api/model"
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
	// Every check start-up makes before touching the database runs here,
	// so --check-config rejects what a start would, with the same status,
	// and a rejected start leaves no file behind.
	if err := checkStartup(cfg); err != nil {
		fmt.Fprintf(stderr, "[ERR] configuration: %v\n", err)
		return 2
	}
	// Go's GOGC and GOMEMLIMIT, or the gateway's defaults (common/gc.go).
	gc, err := common.ApplyGC()
	if err != nil {
		fmt.Fprintf(stderr, "[ERR] configuration: %v\n", err)
		return 2
	}
	if flags.CheckConfig {
		common.PrintConfig(stdout, cfg)
		return 0
	}

	common.SysLog("%s", gc)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, stdout); err != nil {
		common.Error("%v", err)
		return 1
	}
	return 0
}

// serve starts the gateway step by step, serves until ctx is done, then
// stops what was started in reverse order, all within one stop budget
// (SHUTDOWN_TIMEOUT, see server.serveHTTP).
func serve(ctx context.Context, cfg *common.Config, stdout io.Writer) (err error) {
	common.SysLog("one-api %s starting (node %s, database %s)", Version, cfg.NodeType, cfg.Dialect())
	if cfg.SessionSecretGenerated {
		common.Warn("SESSION_SECRET is not set: using a random one, sessions end at restart")
	}
	g := &server{cfg: cfg, stdout: stdout}
	defer func() { err = errors.Join(err, g.closers.closeAll(g.stopDeadline())) }()
	for _, step := range []func(context.Context) error{
		g.openStore,    // open, migrate, bootstrap root; options
		g.joinCluster,  // Redis invalidation bus and shared balances (when configured)
		g.startMetrics, // before the rest, so that their statements count
		g.buildPorts,   // token store, quota ledger, log sink; background workers
		g.startRelay,   // upstream client, routing table, cluster hooks
		g.buildHandler, // admin API, router, pprof
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return g.serveHTTP(ctx)
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
