// Command bench measures the gateway side by side with a direct connection
// to a mock upstream (A), a bare reverse proxy (B), the gateway optimized (C)
// and the gateway with the rollback settings (D), rotating the arms over
// several rounds in one run (issue 7). `go run ./bench` prints a markdown
// table; -out writes everything as JSON; -quick is the CI smoke check.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"one-api/bench/bareproxy"
	"one-api/bench/gateway"
	"one-api/bench/mock"
)

func main() {
	o, err := parseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch o.Role {
	case "":
		code := runBench(ctx, o, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	case "proxy":
		err = serveProxy(ctx, o)
	case "mock":
		err = serveMock(ctx, o, os.Stdout)
	default:
		err = fmt.Errorf("unknown -role %q (want proxy or mock)", o.Role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runBench is the benchmark; the result is the exit status.
func runBench(ctx context.Context, o Options, stdout, stderr io.Writer) int {
	started, loadStart := time.Now(), loadAvg()
	arms, err := armsFor(o)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	tmp, err := os.MkdirTemp("", "one-api-bench-")
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if o.Keep {
		fmt.Fprintln(stderr, "bench: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	e := &env{opts: o, tmp: tmp}
	if e.self, err = os.Executable(); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if needsGateway(arms) {
		if e.gatewayBin, err = gatewayBinary(ctx, o, tmp, stderr); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	// Pin after the build so the compiler had both cores.
	pinning := "unpinned"
	if o.Pin {
		pinning, e.pinArm = pin()
	}
	fmt.Fprintln(stderr, "bench:", pinning)

	m, err := mock.New(o.Mock)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	ln, err := net.Listen("tcp", o.MockAddr)
	if err != nil {
		fmt.Fprintln(stderr, "bench: mock:", err)
		return 1
	}
	srv := &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second}
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		_ = srv.Serve(ln)
	}()
	defer func() {
		_ = srv.Close()
		<-serveDone
	}()
	e.mockURL = "http://" + ln.Addr().String()
	fmt.Fprintln(stderr, "bench: mock upstream at", e.mockURL)

	var rounds, countRounds []*roundResult
	broken := map[string]bool{}
	for round := 1; round <= o.Rounds && ctx.Err() == nil; round++ {
		for _, a := range arms {
			if ctx.Err() != nil {
				break
			}
			if broken[a.Name] {
				continue
			}
			fmt.Fprintf(stderr, "bench: round %d/%d, arm %s (%s)\n", round, o.Rounds, a.Name, a.Label)
			rr := measure(ctx, e, a, round, false, stderr)
			if rr.Err != "" {
				fmt.Fprintf(stderr, "bench: arm %s round %d: %s\n", a.Name, round, rr.Err)
			}
			broken[a.Name] = rr.StartFailed
			rounds = append(rounds, rr)
		}
	}
	if d := allArms["D"]; o.DCount && hasArm(arms, "D") && !broken["D"] && ctx.Err() == nil {
		fmt.Fprintln(stderr, "bench: D count pass (metrics on, statements only)")
		countRounds = append(countRounds, measure(ctx, e, countArm(d), 0, true, stderr))
	}

	rep := buildReport(o, arms, rounds, countRounds, host(pinning, loadStart), started)
	writeMarkdown(stdout, rep)
	if o.Out != "" {
		if err := writeJSON(o.Out, rep); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "bench: interrupted")
		return 130
	}
	if o.Quick {
		if fails := smokeFailures(rep.Arms, arms); len(fails) > 0 {
			fmt.Fprintln(stderr, "bench: smoke check failed:\n  "+strings.Join(fails, "\n  "))
			return 1
		}
		fmt.Fprintln(stderr, "bench: smoke check passed")
	}
	return 0
}

func buildReport(o Options, arms []Arm, rounds, countRounds []*roundResult, h hostInfo, started time.Time) *Report {
	rep := &Report{
		Date: started.UTC().Format("2006-01-02 15:04 MST"), Host: h, Options: o, Backend: backend(o, arms, strings.HasPrefix(h.Pinning, "taskset")),
		Rounds: append(append([]*roundResult{}, rounds...), countRounds...),
	}
	for _, a := range arms {
		var mine, extra []*roundResult
		for _, rr := range rounds {
			if rr.Arm == a.Name {
				mine = append(mine, rr)
			}
		}
		for _, rr := range countRounds {
			if strings.TrimSuffix(rr.Arm, "*") == a.Name {
				extra = append(extra, rr)
			}
		}
		rep.Arms = append(rep.Arms, summarize(a, o.Rates, mine, extra))
	}
	addBaseline(rep.Arms)
	rep.Ratios = ratios(rep.Arms)
	rep.Targets = targets(rep.Arms)
	rep.Warnings = warnings(rep.Arms, rep.Rounds, o, h)
	rep.Elapsed = roundDur(time.Since(started))
	return rep
}

func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// backend says where the gateway arms kept their state, and how C2's
// nodes shared the machine; "" when no gateway arm ran.
func backend(o Options, arms []Arm, pinned bool) string {
	if !needsGateway(arms) {
		return ""
	}
	if o.SQLDSN == "" {
		return "SQLite, a fresh file per gateway process"
	}
	s := "PostgreSQL " + gateway.Redact(o.SQLDSN) + ", a fresh schema per arm and round"
	if o.RedisURL != "" {
		s += "; Redis " + gateway.Redact(o.RedisURL) + ", a fresh key prefix per arm and round"
	}
	s += "; PostgreSQL and Redis run unpinned on this machine, sharing its cores with every arm"
	where := "unpinned, as every arm"
	if pinned {
		where = "all on CPU 0 as C's one node, so both arms get the same CPU and the difference is what coordination costs"
	}
	for _, a := range arms {
		if a.Nodes > 1 {
			s += fmt.Sprintf(". %s: %d nodes (one master, the rest slaves) %s; the load generator sends each request to the next node in turn", a.Name, a.Nodes, where)
		}
	}
	return s
}

func needsGateway(arms []Arm) bool {
	for _, a := range arms {
		if a.Kind == kindGateway {
			return true
		}
	}
	return false
}

func hasArm(arms []Arm, name string) bool {
	for _, a := range arms {
		if a.Name == name {
			return true
		}
	}
	return false
}

// gatewayBinary is -gateway-bin, or a fresh build of the module root.
func gatewayBinary(ctx context.Context, o Options, tmp string, stderr io.Writer) (string, error) {
	if o.GatewayBin != "" {
		return filepath.Abs(o.GatewayBin)
	}
	src := o.GatewaySrc
	if src == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		if src, err = gateway.ModuleRoot(ctx, wd); err != nil {
			return "", err
		}
	}
	out := filepath.Join(tmp, "one-api")
	fmt.Fprintln(stderr, "bench: building the gateway in", src)
	start := time.Now()
	if err := gateway.Build(ctx, src, out); err != nil {
		return "", err
	}
	fmt.Fprintln(stderr, "bench: built in", roundDur(time.Since(start)))
	return out, nil
}

// serveProxy is arm B's process: the bare proxy until SIGTERM.
func serveProxy(ctx context.Context, o Options) error {
	target, err := url.Parse(o.Target)
	if err != nil || target.Host == "" {
		return fmt.Errorf("-target %q: want an http URL", o.Target)
	}
	return serveUntilDone(ctx, o.Listen, bareproxy.New(target, bareproxy.Transport()), nil)
}

// serveMock runs the mock upstream alone (-mock-only).
func serveMock(ctx context.Context, o Options, stdout io.Writer) error {
	m, err := mock.New(o.Mock)
	if err != nil {
		return err
	}
	return serveUntilDone(ctx, o.MockAddr, m, func(addr string) {
		fmt.Fprintf(stdout, "mock upstream at http://%s (Ctrl-C to stop)\n", addr)
	})
}

func serveUntilDone(ctx context.Context, addr string, h http.Handler, ready func(string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
