package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"one-api/bench/gateway"
)

type armKind int

const (
	kindDirect armKind = iota
	kindProxy
	kindGateway
	kindExternal
)

// Arm is one way of reaching the mock.
type Arm struct {
	Name  string
	Label string
	Kind  armKind
	Env   []string // gateway arms
	// Settle: the arm defers writes (batched logs and quota), so CPU and DB
	// statements are read only after they had time to be flushed.
	Settle bool
	// Nodes is how many gateway processes share the arm's database and
	// Redis, with the load alternating between them (0 means one).
	Nodes int
	// MaxStreamRate caps -stream-rate for the arm (0 = no cap).
	MaxStreamRate int
}

// streamRate is the arm's SSE rate: -stream-rate, capped for an arm that
// cannot sustain it.
func (a Arm) streamRate(rate int) int {
	if a.MaxStreamRate > 0 {
		return min(rate, a.MaxStreamRate)
	}
	return rate
}

// Gateway environments. C is the seed's aggressive profile
// (patchset.md, Profiles) with consume logs kept on so lost logs can be
// counted, pprof off so it is not a second listener, and the access log off
// as a production deployment behind a load balancer would run. D is the
// seed's rollback .env plus the two PRAGMAs the rollback section names.
var (
	envOptimized = []string{
		"SQLITE_JOURNAL_MODE=WAL", "SQLITE_SYNCHRONOUS=NORMAL", "SQLITE_CACHE_SIZE=-128000", "SQLITE_MMAP_SIZE=536870912",
		"LOCAL_CACHE_ENABLED=true", "LOCAL_CACHE_TTL=120",
		"LOG_BATCH_ENABLED=true", "LOG_BATCH_SIZE=100", "LOG_CONSUME_ENABLED=true",
		"BATCH_UPDATE_ENABLED=true",
		"HTTP_KEEPALIVE=120", "HTTP_MAX_IDLE_CONNS=200",
		"METRICS_ENABLED=true", "ACCESS_LOG_ENABLED=false", "PPROF_ENABLED=false",
	}
	envRollback = []string{
		"SQLITE_OPTIMIZE_ENABLED=false", "SQLITE_JOURNAL_MODE=DELETE", "SQLITE_SYNCHRONOUS=FULL",
		"LOCAL_CACHE_ENABLED=false", "LOG_BATCH_ENABLED=false", "BATCH_UPDATE_ENABLED=false",
		"METRICS_ENABLED=false", "PPROF_ENABLED=false",
	}
)

// envDefaults is the shipped .env.example as is: nothing to override.
var envDefaults = []string{}

var allArms = map[string]Arm{
	"A": {Name: "A", Label: "direct to mock", Kind: kindDirect},
	"B": {Name: "B", Label: "bare ReverseProxy", Kind: kindProxy},
	"C": {Name: "C", Label: "gateway optimized", Kind: kindGateway, Env: envOptimized, Settle: true},
	// C2 is C on two nodes of one database and Redis (issue 9): one node vs
	// two on the same machine. Both are pinned where C's one node is, so the
	// two arms have the same CPU and C2 shows what coordination costs, not
	// what a second core buys.
	"C2": {Name: "C2", Label: "gateway optimized, 2 nodes", Kind: kindGateway, Env: envOptimized, Settle: true, Nodes: 2},
	// CG is C with Go's own collector defaults instead of the gateway's
	// (GOGC=400 and a soft memory limit, common/gc.go): -arms A,C,CG
	// measures that choice side by side (issue 19).
	"CG": {Name: "CG", Label: "gateway optimized, Go's GC defaults", Kind: kindGateway, Env: append(slices.Clone(envOptimized), "GOGC=100", "GOMEMLIMIT=off"), Settle: true},
	// CP is C with two Ps on its one pinned CPU (Go's own GOMAXPROCS; the
	// runtime picks 1 there): whether a second P keeps a stream's first
	// chunk from waiting behind a batch writer's SQLite call or a thread
	// stuck in a syscall, at the price of the kernel time-slicing two
	// threads (issue 19). Not in the default run: -arms A,B,C,CP.
	"CP": {Name: "CP", Label: "gateway optimized, GOMAXPROCS=2", Kind: kindGateway, Env: append(slices.Clone(envOptimized), "GOMAXPROCS=2"), Settle: true},
	// D writes each request's log and quota synchronously with FULL sync: a
	// few hundred requests a second at best, so issue 19's 500 streams/s
	// only measured its queue (seconds of TTFT, timeouts) and made the run
	// a minute longer. Its stream step stays at the 40/s it was measured at
	// before; the TTFT target is C's against B's.
	"D": {Name: "D", Label: "gateway rollback", Kind: kindGateway, Env: envRollback, MaxStreamRate: 40},
	// F is a fresh install's .env: no batching, so each request waits for
	// its quota and consume log to be committed (group commit), consume
	// logs on, the access log on (issue 19: F ≥ 0.6× C's max RPS).
	"F": {Name: "F", Label: "gateway defaults", Kind: kindGateway, Env: envDefaults},
	"E": {Name: "E", Label: "external gateway", Kind: kindExternal},
}

// metrics says whether the arm's gateway serves /api/metrics/ (the last
// METRICS_ENABLED in its environment wins, as it would in a shell).
func (a Arm) metrics() bool {
	on := true
	for _, kv := range a.Env {
		if v, ok := strings.CutPrefix(kv, "METRICS_ENABLED="); ok {
			on = v != "false"
		}
	}
	return on
}

// armsFor is the rotation order given by -arms.
func armsFor(o Options) ([]Arm, error) {
	var out []Arm
	seen := map[string]bool{}
	for f := range strings.SplitSeq(o.Arms, ",") {
		name := strings.ToUpper(strings.TrimSpace(f))
		a, ok := allArms[name]
		if !ok {
			return nil, fmt.Errorf("-arms: unknown arm %q (want A, B, C, C2, CG, CP, D, E, F)", f)
		}
		if seen[name] {
			continue
		}
		if a.Kind == kindExternal && o.ExternalURL == "" {
			return nil, errors.New("-arms: E needs -external-url")
		}
		if a.Nodes > 1 && (o.SQLDSN == "" || o.RedisURL == "") {
			return nil, fmt.Errorf("-arms: %s runs %d nodes on one database and Redis: it needs -sql-dsn and -redis", name, a.Nodes)
		}
		seen[name] = true
		out = append(out, a)
	}
	return out, nil
}

// countArm is D with metrics on, run once only to count D's statements.
func countArm(d Arm) Arm {
	d.Name, d.Label = "D*", "gateway rollback + metrics (statement count only)"
	d.Env = append(append([]string{}, d.Env...), "METRICS_ENABLED=true")
	return d
}

// instance is one running arm.
type instance struct {
	arm     Arm
	baseURL string
	// hosts: more than one, and each request goes to the next (C2).
	hosts  []string
	key    string
	pids   []int // none: no process of its own to measure
	gws    []*gateway.Process
	shared *gateway.Shared // the arm's PostgreSQL schema and Redis prefix
	proxy  *child
}

// env is what every arm needs from the run.
type env struct {
	opts       Options
	mockURL    string
	self       string // this binary, for the proxy child
	gatewayBin string
	tmp        string
	pinArm     string // taskset CPU list for arm processes, "" = unpinned
}

func startArm(ctx context.Context, e *env, a Arm, round int) (*instance, error) {
	in := &instance{arm: a}
	switch a.Kind {
	case kindDirect:
		in.baseURL = e.mockURL
	case kindExternal:
		in.baseURL, in.key = strings.TrimRight(e.opts.ExternalURL, "/"), e.opts.ExternalKey
		if e.opts.ExternalPID != 0 {
			in.pids = []int{e.opts.ExternalPID}
		}
	case kindProxy:
		c, err := startProxy(ctx, e)
		if err != nil {
			return nil, err
		}
		in.proxy, in.baseURL, in.pids = c, c.url, []int{c.pid()}
	case kindGateway:
		if err := startGateways(ctx, e, in, round); err != nil {
			in.abort(e)
			return nil, err
		}
	}
	return in, nil
}

// startGateways starts the arm's nodes one after the other: the first (the
// master, which migrates and bootstraps root) is set up through the admin
// API; the others find the channel and token in the shared database.
func startGateways(ctx context.Context, e *env, in *instance, round int) error {
	a := in.arm
	env := a.Env
	if e.opts.SQLDSN != "" {
		sh, err := gateway.NewShared(ctx, e.opts.SQLDSN, e.opts.RedisURL)
		if err != nil {
			return err
		}
		in.shared = sh
		env = append(slices.Clone(a.Env), sh.Env()...)
	}
	nodes := max(a.Nodes, 1)
	for i := range nodes {
		name := fmt.Sprintf("%s-round%d", strings.ReplaceAll(a.Name, "*", "-count"), round)
		if nodes > 1 {
			name += fmt.Sprintf("-node%d", i+1)
		}
		dir := filepath.Join(e.tmp, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		cfg := gateway.Config{Bin: e.gatewayBin, Dir: dir, Env: env, Pin: e.pinArm}
		if in.shared != nil {
			cfg.Env = append(slices.Clone(env), "NODE_TYPE="+nodeType(i))
		}
		if i > 0 {
			cfg.AdminToken = in.gws[0].AdminToken
		}
		gw, err := gateway.Start(ctx, cfg)
		if err != nil {
			return fmt.Errorf("node %d: %w", i+1, err)
		}
		in.gws = append(in.gws, gw)
		if i == 0 {
			if err := gw.Setup(ctx, e.mockURL, e.opts.Model); err != nil {
				return fmt.Errorf("setup: %w\n%s", err, gw.LogTail(1024))
			}
		} else {
			gw.Key = in.gws[0].Key
		}
		if err := gw.Probe(ctx, chatBody(e.opts.Model, false, nonStreamTokens), 10*time.Second); err != nil {
			return fmt.Errorf("node %d: %w\n%s", i+1, err, gw.LogTail(1024))
		}
		in.pids = append(in.pids, gw.Pid())
		in.hosts = append(in.hosts, strings.TrimPrefix(gw.BaseURL, "http://"))
	}
	in.baseURL, in.key = in.gws[0].BaseURL, in.gws[0].Key
	return nil
}

func nodeType(i int) string {
	if i == 0 {
		return "master"
	}
	return "slave"
}

// abort kills what a failed start left running and drops its schema.
func (in *instance) abort(e *env) {
	for _, gw := range in.gws {
		gw.Kill()
	}
	if in.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = releaseShared(ctx, e, in.shared)
	}
}

// releaseShared drops the arm's schema and Redis keys, unless -keep.
func releaseShared(ctx context.Context, e *env, sh *gateway.Shared) error {
	defer sh.Close()
	if e.opts.Keep {
		return nil
	}
	return sh.Drop(ctx)
}

// nonStreamTokens is the non-stream steps' max_tokens: above the mock's
// default 20 chunks, so it does not shorten anything.
const nonStreamTokens = 64

// chatBody is the request every step sends; max_tokens keeps the gateway's
// pre-consumed quota small and fixed, and caps the mock's stream.
func chatBody(model string, stream bool, maxTokens int) []byte {
	s := ""
	if stream {
		s = `,"stream":true,"stream_options":{"include_usage":true}`
	}
	return fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":%d%s}`, model, maxTokens, s)
}

// child is a helper process of this binary (the bare proxy).
type child struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func startProxy(ctx context.Context, e *env) (*child, error) {
	port, err := gateway.FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-role=proxy", "-target", e.mockURL, "-listen", fmt.Sprintf("127.0.0.1:%d", port)}
	name := e.self
	if e.pinArm != "" {
		name, args = "taskset", append([]string{"-c", e.pinArm, e.self}, args...)
	}
	c := &child{cmd: exec.Command(name, args...), url: fmt.Sprintf("http://127.0.0.1:%d", port), exited: make(chan struct{})}
	c.cmd.Stderr = os.Stderr
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start proxy: %w", err)
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.exited)
	}()
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err := client.Get(c.url + "/v1/models"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("proxy exited during start-up: %s", c.cmd.ProcessState)
		case <-ctx.Done():
			c.stop(time.Second)
			return nil, fmt.Errorf("start proxy: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop(time.Second)
			return nil, errors.New("proxy did not answer within 10s")
		}
	}
}

func (c *child) stop(timeout time.Duration) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}
