package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"one-api/bench/gateway"
	"one-api/bench/mock"
)

// Options is one benchmark run.
type Options struct {
	Quick  bool   `json:"quick"`
	Arms   string `json:"arms"`
	Rounds int    `json:"rounds"`

	Rates    []int         `json:"rates"` // open-loop non-stream steps, req/s
	StepDur  time.Duration `json:"step_ns"`
	Warmup   time.Duration `json:"warmup_ns"`
	Settle   time.Duration `json:"settle_ns"` // after the fixed-rate steps, for arms that defer writes
	Levels   []int         `json:"sweep_levels"`
	SweepDur time.Duration `json:"sweep_step_ns"`
	P99Bound time.Duration `json:"p99_bound_ns"`

	StreamRate int           `json:"stream_rate"`
	StreamDur  time.Duration `json:"stream_ns"`
	// StreamTokens is the stream step's max_tokens, which the mock honours:
	// time to first token needs the first chunk and a short stream, so a
	// short stream buys more streams per step (issue 19: ≥ 2,000 per arm).
	StreamTokens int `json:"stream_tokens"`

	Mock     mock.Options  `json:"mock"`
	MockAddr string        `json:"mock_addr"`
	Model    string        `json:"model"`
	Timeout  time.Duration `json:"timeout_ns"`

	Pin        bool   `json:"pin"`
	GatewayBin string `json:"gateway_bin,omitempty"`
	GatewaySrc string `json:"gateway_src,omitempty"`
	// DCount runs one extra D process with metrics on, only to count D's
	// database statements; D's own rounds keep metrics off as rollback does.
	DCount      bool          `json:"d_count_pass"`
	StopTimeout time.Duration `json:"-"`
	Keep        bool          `json:"-"`
	Out         string        `json:"-"`

	// SQLDSN and RedisURL put the gateway arms on PostgreSQL and Redis
	// (issue 9) instead of a SQLite file each. Kept out of the JSON: they
	// may carry a password (the report names them redacted).
	SQLDSN   string `json:"-"`
	RedisURL string `json:"-"`

	ExternalURL string `json:"external_url,omitempty"`
	ExternalKey string `json:"-"`
	ExternalPID int    `json:"external_pid,omitempty"`

	// Roles for child processes and standalone use.
	Role   string `json:"-"`
	Listen string `json:"-"`
	Target string `json:"-"`
}

// defaultOptions finish in about two minutes on two cores.
func defaultOptions() Options {
	return Options{
		Arms: "A,B,C,D", Rounds: 2,
		Rates: []int{100, 400}, StepDur: 3 * time.Second, Warmup: 500 * time.Millisecond,
		Settle: 6 * time.Second, // LOG_BATCH_FLUSH_INTERVAL / BATCH_UPDATE_INTERVAL default 5 s, plus margin
		Levels: []int{4, 16, 64}, SweepDur: 1500 * time.Millisecond, P99Bound: 50 * time.Millisecond,
		// 500 streams/s × 2 s × 2 rounds = 2,000 streams per arm, each of
		// 4 content chunks (≈ 6 ms at the mock's 2 ms gap), so about three
		// are open at a time: below the transport's 20 idle connections
		// per host, as a real stream mix would be on that pool.
		StreamRate: 500, StreamDur: 2 * time.Second, StreamTokens: 4,
		Mock: mock.DefaultOptions(), MockAddr: "127.0.0.1:0", Model: "gpt-3.5-turbo",
		Timeout: 10 * time.Second, Pin: true, DCount: true, StopTimeout: 60 * time.Second,
	}
}

// applyQuick shrinks every phase for a smoke run under 40 s (gateway build
// excluded). Only what the caller left at its default is changed.
func applyQuick(o *Options, set map[string]bool) {
	quick := map[string]func(){
		"rounds":      func() { o.Rounds = 1 },
		"rates":       func() { o.Rates = []int{100} },
		"step":        func() { o.StepDur = 2 * time.Second },
		"warmup":      func() { o.Warmup = 300 * time.Millisecond },
		"settle":      func() { o.Settle = time.Second },
		"levels":      func() { o.Levels = []int{8} },
		"sweep-step":  func() { o.SweepDur = time.Second },
		"stream-rate": func() { o.StreamRate = 100 },
		"stream-step": func() { o.StreamDur = time.Second },
		"d-count":     func() { o.DCount = false },
	}
	for name, apply := range quick {
		if !set[name] {
			apply()
		}
	}
}

// parseOptions reads the command line.
func parseOptions(args []string, stderr io.Writer) (Options, error) {
	o := defaultOptions()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.Quick, "quick", false, "smoke run (< 40 s): 1 round, short steps; exits non-zero unless every arm produced numbers and C lost no logs")
	fs.StringVar(&o.Arms, "arms", o.Arms, "arms to run, comma-separated: A direct, B bare proxy, C gateway optimized, C2 C on two nodes (needs -sql-dsn and -redis), CG C with Go's GC defaults, CP C with GOMAXPROCS=2, D gateway rollback, F gateway defaults (E is added by -external-url)")
	fs.IntVar(&o.Rounds, "rounds", o.Rounds, "rounds; arms are rotated A,B,C,D,A,B,... within one run")
	rates := fs.String("rates", joinInts(o.Rates), "open-loop fixed rates, req/s, comma-separated")
	fs.DurationVar(&o.StepDur, "step", o.StepDur, "duration of each fixed-rate step")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "warm-up per arm and round at the lowest rate, not measured")
	fs.DurationVar(&o.Settle, "settle", o.Settle, "idle wait after the fixed-rate steps of arms that batch writes, so deferred CPU and statements are charged")
	levels := fs.String("levels", joinInts(o.Levels), "closed-loop sweep concurrency levels")
	fs.DurationVar(&o.SweepDur, "sweep-step", o.SweepDur, "duration of each sweep level")
	fs.DurationVar(&o.P99Bound, "p99-bound", o.P99Bound, "p99 bound for max RPS")
	fs.IntVar(&o.StreamRate, "stream-rate", o.StreamRate, "SSE streams opened per second")
	fs.DurationVar(&o.StreamDur, "stream-step", o.StreamDur, "duration of the SSE step")
	fs.IntVar(&o.StreamTokens, "stream-tokens", o.StreamTokens, "max_tokens of the SSE step's requests: content chunks per stream, capped by -mock-chunks")

	fs.DurationVar(&o.Mock.Latency, "mock-latency", o.Mock.Latency, "mock: fixed latency before the response")
	fs.DurationVar(&o.Mock.Jitter, "mock-jitter", o.Mock.Jitter, "mock: uniform extra latency [0, jitter)")
	fs.IntVar(&o.Mock.BodyBytes, "mock-bytes", o.Mock.BodyBytes, "mock: non-stream body size in bytes (1400 or 10240 for the ≈1.4 KB / ≈10 KB cases)")
	fs.IntVar(&o.Mock.Chunks, "mock-chunks", o.Mock.Chunks, "mock: content chunks per stream (= completion_tokens)")
	fs.DurationVar(&o.Mock.ChunkGap, "mock-gap", o.Mock.ChunkGap, "mock: gap between stream chunks")
	fs.Float64Var(&o.Mock.FailureRate, "mock-fail", o.Mock.FailureRate, "mock: fraction of requests answered 500")
	fs.BoolVar(&o.Mock.Usage, "mock-usage", o.Mock.Usage, "mock: send the usage chunk when stream_options.include_usage asks for it")
	fs.StringVar(&o.MockAddr, "mock-addr", o.MockAddr, "mock listen address (fix it to point an external gateway at the mock)")
	fs.StringVar(&o.Model, "model", o.Model, "model name sent and configured on the channel")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "client timeout per request")

	fs.BoolVar(&o.Pin, "pin", o.Pin, "pin gateway/proxy to CPU 0 and mock+load to CPU 1 with taskset (Linux, ≥ 2 cores)")
	fs.StringVar(&o.GatewayBin, "gateway-bin", "", "prebuilt gateway binary (default: go build the module root)")
	fs.StringVar(&o.GatewaySrc, "gateway-src", "", "gateway source directory (default: the module root, from go env GOMOD)")
	fs.BoolVar(&o.DCount, "d-count", o.DCount, "extra D process with METRICS_ENABLED=true to count D's DB statements")
	fs.DurationVar(&o.StopTimeout, "stop-timeout", o.StopTimeout, "how long a gateway may take to stop on SIGTERM")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (databases, gateway logs)")
	fs.StringVar(&o.Out, "out", "", "write the full results as JSON to this file")

	fs.StringVar(&o.SQLDSN, "sql-dsn", "", "run the gateway arms on this PostgreSQL database (postgres://...), a fresh schema per arm and round")
	fs.StringVar(&o.RedisURL, "redis", "", "with -sql-dsn: give the gateway arms this Redis (redis://...), a fresh key prefix per arm and round; needed by C2")

	fs.StringVar(&o.ExternalURL, "external-url", "", "arm E: base URL of another OpenAI-compatible gateway routed to the mock (see -mock-addr)")
	fs.StringVar(&o.ExternalKey, "external-key", "", "arm E: API key")
	fs.IntVar(&o.ExternalPID, "external-pid", 0, "arm E: process id, for CPU and RSS")

	fs.StringVar(&o.Role, "role", "", "internal: run as 'proxy' or 'mock' instead of benchmarking")
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:0", "internal: listen address for -role")
	fs.StringVar(&o.Target, "target", "", "internal: upstream URL for -role=proxy")
	mockOnly := fs.Bool("mock-only", false, "run only the mock upstream (same as -role=mock) until interrupted")

	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *mockOnly {
		o.Role = "mock"
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	if o.Rates, err = parseInts(*rates); err != nil {
		return o, fmt.Errorf("-rates: %w", err)
	}
	if o.Levels, err = parseInts(*levels); err != nil {
		return o, fmt.Errorf("-levels: %w", err)
	}
	if o.Quick {
		applyQuick(&o, set)
	}
	if o.ExternalURL != "" && !strings.Contains(o.Arms, "E") {
		o.Arms += ",E"
	}
	return o, o.validate()
}

func (o Options) validate() error {
	var errs []error
	if o.Rounds < 1 {
		errs = append(errs, fmt.Errorf("-rounds %d: need at least 1", o.Rounds))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"step", o.StepDur}, {"sweep-step", o.SweepDur}, {"stream-step", o.StreamDur}, {"p99-bound", o.P99Bound}, {"timeout", o.Timeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("-%s %v: must be positive", d.name, d.v))
		}
	}
	if o.StreamRate < 1 {
		errs = append(errs, fmt.Errorf("-stream-rate %d: need at least 1", o.StreamRate))
	}
	if o.StreamTokens < 1 {
		errs = append(errs, fmt.Errorf("-stream-tokens %d: need at least 1", o.StreamTokens))
	}
	if o.SQLDSN != "" && !strings.HasPrefix(o.SQLDSN, "postgres://") && !strings.HasPrefix(o.SQLDSN, "postgresql://") {
		errs = append(errs, fmt.Errorf("-sql-dsn %s: want a postgres:// URL (the schema per round is set through search_path)", gateway.Redact(o.SQLDSN)))
	}
	if o.RedisURL != "" && o.SQLDSN == "" {
		errs = append(errs, errors.New("-redis needs -sql-dsn: nodes that share a Redis share a database"))
	}
	if _, err := armsFor(o); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// usage lists the flags but the internal ones child processes use.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintln(w, "usage: go run ./bench [flags]   (see bench/README.md)")
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, "internal:") {
			return
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  -%s\n    \t%s%s\n", f.Name, f.Usage, def)
	})
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want positive integers, comma-separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
