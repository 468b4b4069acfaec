package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"one-api/bench/gateway"
	"one-api/bench/load"
)

// TestQuickSmoke is the CI smoke check: `go run . -quick` must pass (every
// arm produced numbers, C lost no logs). It builds and runs the real gateway,
// so it only runs with BENCH_SMOKE=1; BENCH_SMOKE_ARGS adds flags, e.g.
// "-arms A,B" before the gateway exists.
func TestQuickSmoke(t *testing.T) {
	if os.Getenv("BENCH_SMOKE") != "1" {
		t.Skip("set BENCH_SMOKE=1 to run the benchmark smoke check")
	}
	rep := runQuick(t, strings.Fields(os.Getenv("BENCH_SMOKE_ARGS"))...)
	if len(rep.Arms) == 0 {
		t.Fatal("report has no arms")
	}
}

// TestQuickSmokePostgresRedis is the same check for the gateway on
// PostgreSQL and Redis, one node (C) and two (C2); it also checks that the
// run left no schema behind.
func TestQuickSmokePostgresRedis(t *testing.T) {
	pg, rurl := os.Getenv("TEST_POSTGRES_DSN"), os.Getenv("TEST_REDIS_URL")
	if os.Getenv("BENCH_SMOKE") != "1" || pg == "" || rurl == "" {
		t.Skip("set BENCH_SMOKE=1, TEST_POSTGRES_DSN and TEST_REDIS_URL to run the PostgreSQL + Redis smoke check")
	}
	rep := runQuick(t, "-arms", "A,C,C2", "-sql-dsn", pg, "-redis", rurl)
	for _, name := range []string{"A", "C", "C2"} {
		a := find(rep.Arms, name)
		if a == nil || a.RoundsOK == 0 {
			t.Fatalf("arm %s: %+v, want a finished round", name, a)
		}
	}
	if !strings.Contains(rep.Backend, "PostgreSQL") {
		t.Errorf("backend = %q, want PostgreSQL named", rep.Backend)
	}
	db, err := gorm.Open(postgres.Open(pg), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	schemas := 0
	for _, rr := range rep.Rounds {
		if rr.Arm == "A" {
			continue
		}
		if rr.Schema == "" {
			t.Errorf("arm %s round %d: no schema recorded", rr.Arm, rr.Round)
			continue
		}
		schemas++
		var n int
		if err := sqlDB.QueryRow("SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", rr.Schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("schema %s of arm %s was left behind", rr.Schema, rr.Arm)
		}
	}
	if schemas != 2 {
		t.Errorf("%d gateway rounds with a schema, want 2 (C and C2)", schemas)
	}
}

// runQuick runs `go run . -quick` with args and decodes its JSON report;
// the run's own smoke check decides pass or fail.
func runQuick(t *testing.T, args ...string) *Report {
	t.Helper()
	out := filepath.Join(t.TempDir(), "quick.json")
	cmd := exec.Command("go", append([]string{"run", ".", "-quick", "-out", out}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr.String())
	if err != nil {
		t.Fatalf("go run . -quick: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report JSON: %v", err)
	}
	return &rep
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(t *testing.T, o Options)
		wantErr bool
	}{
		{"defaults", nil, func(t *testing.T, o Options) {
			if g, w := o.Rounds, 2; g != w {
				t.Errorf("rounds = %d, want %d", g, w)
			}
			if o.Arms != "A,B,C,D" || o.SQLDSN != "" || o.RedisURL != "" {
				t.Errorf("arms %q, sql-dsn %q, redis %q; want A,B,C,D on SQLite", o.Arms, o.SQLDSN, o.RedisURL)
			}
		}, false},
		{"two nodes on postgres and redis", []string{"-arms", "A,C,C2", "-sql-dsn", "postgres://u@h/db", "-redis", "redis://h:6379/0"}, func(t *testing.T, o Options) {
			arms, err := armsFor(o)
			if err != nil || len(arms) != 3 || arms[2].Nodes != 2 {
				t.Errorf("arms = %+v, %v; want A, C and C2 with 2 nodes", arms, err)
			}
		}, false},
		{"postgres without redis", []string{"-arms", "C,D", "-sql-dsn", "postgresql://u@h/db"}, nil, false},
		{"C2 without redis", []string{"-arms", "C2", "-sql-dsn", "postgres://u@h/db"}, nil, true},
		{"C2 on sqlite", []string{"-arms", "A,C2"}, nil, true},
		{"redis without a database", []string{"-redis", "redis://h:6379/0"}, nil, true},
		{"mysql dsn", []string{"-sql-dsn", "root@tcp(h:3306)/db"}, nil, true},
		{"quick shrinks what was not set", []string{"-quick", "-rates", "50,60"}, func(t *testing.T, o Options) {
			if g, w := joinInts(o.Rates), "50,60"; g != w {
				t.Errorf("rates = %s, want %s (explicit flag kept)", g, w)
			}
			if g, w := o.Rounds, 1; g != w {
				t.Errorf("rounds = %d, want %d", g, w)
			}
		}, false},
		{"external adds E", []string{"-external-url", "http://x", "-external-key", "k"}, func(t *testing.T, o Options) {
			if g, w := o.Arms, "A,B,C,D,E"; g != w {
				t.Errorf("arms = %q, want %q", g, w)
			}
		}, false},
		{"mock-only", []string{"-mock-only"}, func(t *testing.T, o Options) {
			if g, w := o.Role, "mock"; g != w {
				t.Errorf("role = %q, want %q", g, w)
			}
		}, false},
		{"unknown arm", []string{"-arms", "A,Z"}, nil, true},
		{"E without URL", []string{"-arms", "E"}, nil, true},
		{"bad rates", []string{"-rates", "10,x"}, nil, true},
		{"zero rounds", []string{"-rounds", "0"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, &bytes.Buffer{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

func TestArmMetrics(t *testing.T) {
	if !allArms["C"].metrics() {
		t.Error("C: metrics off, want on")
	}
	if allArms["D"].metrics() {
		t.Error("D: metrics on, want off (rollback)")
	}
	if !countArm(allArms["D"]).metrics() {
		t.Error("D count pass: metrics off, want on")
	}
	if g := allArms["D"].Env[len(allArms["D"].Env)-1]; g == "METRICS_ENABLED=true" {
		t.Error("countArm changed D's own environment")
	}
}

// step builds a fixed-rate result whose every request took lat.
func step(n int, lat time.Duration) *load.Result {
	r := load.Combine() // empty
	for range n {
		r.Hist.Record(lat)
	}
	r.Requests, r.OK, r.Elapsed = int64(n), int64(n), time.Second
	return load.Combine(r) // computes the summary
}

func sweep(rps float64) *load.Sweep {
	return &load.Sweep{MaxRPS: rps, MaxWorkers: 8, Levels: []load.Level{{Workers: 8, Result: step(int(rps), time.Millisecond)}}, P99Bound: 50_000}
}

func TestReportFigures(t *testing.T) {
	rates := []int{100}
	i64 := func(v int64) *int64 { return &v }
	round := func(arm string, lat time.Duration, cpu, db *int64, succ int64, logs *gateway.Ledger) *roundResult {
		return &roundResult{Arm: arm, Round: 1, Steps: []*load.Result{step(100, lat)}, Sweep: sweep(1000),
			Window: windowCounts{Requests: 100, CPUMicros: cpu, DBStatements: db, Successes: succ}, Ledger: logs}
	}
	rounds := map[string][]*roundResult{
		"A": {round("A", 100*time.Microsecond, nil, nil, 0, nil)},
		"B": {round("B", 200*time.Microsecond, i64(5000), nil, 0, nil)},
		"C": {round("C", 250*time.Microsecond, i64(10000), i64(2), 110, &gateway.Ledger{ConsumeLogs: 110})},
		"D": {round("D", 1100*time.Microsecond, i64(40000), nil, 110, &gateway.Ledger{ConsumeLogs: 107})},
	}
	count := []*roundResult{{Arm: "D*", Window: windowCounts{Requests: 100, DBStatements: i64(400), Successes: 101}, Ledger: &gateway.Ledger{ConsumeLogs: 101}}}
	var arms []*armSummary
	for _, name := range []string{"A", "B", "C", "D"} {
		var extra []*roundResult
		if name == "D" {
			extra = count
		}
		arms = append(arms, summarize(allArms[name], rates, rounds[name], extra))
	}
	addBaseline(arms)

	c, d := find(arms, "C"), find(arms, "D")
	approx := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil {
			t.Errorf("%s = nil, want %v", name, want)
			return
		}
		if *got < want*0.99-1 || *got > want*1.01+1 {
			t.Errorf("%s = %v, want %v", name, *got, want)
		}
	}
	approx("C added p50", c.Steps[0].AddedP50, 150)
	approx("D added p99", d.Steps[0].AddedP99, 1000)
	approx("C CPU/req", c.CPUPerReq, 100)
	approx("C DB/req", c.DBPerReq, 0.02)
	approx("D DB/req (count pass)", d.DBPerReq, 4)
	if g, w := d.DBSource, "count pass with METRICS_ENABLED=true"; g != w {
		t.Errorf("D db source = %q, want %q", g, w)
	}
	if g, w := d.Logs.Lost, int64(3); g != w {
		t.Errorf("D lost logs = %d, want %d", g, w)
	}
	if g, w := c.Logs.Lost, int64(0); g != w {
		t.Errorf("C lost logs = %d, want %d", g, w)
	}

	met := map[string]bool{}
	for _, tc := range targets(arms) {
		met[tc.Target] = tc.Met
	}
	for name, want := range map[string]bool{
		"C vs D: added p99 −80% or better":             true,  // 150 vs 1000: −85 %
		"C vs D: added p50 −60% or better":             true,  // −85 %
		"C vs D: CPU/request −40% or better":           true,  // 100 vs 400
		"C vs D: DB statements/request −95% or better": true,  // 0.02 vs 4
		"C vs B: added p50 within 150 µs of B's":       true,  // +50 µs
		"C: stream added TTFT p99 ≤ 1 ms":              false, // no stream figures
		"C: zero lost logs":                            true,
	} {
		if g, ok := met[name]; !ok || g != want {
			t.Errorf("target %q met = %v (present %v), want %v", name, g, ok, want)
		}
	}

	var md bytes.Buffer
	writeMarkdown(&md, &Report{Options: defaultOptions(), Arms: arms, Ratios: ratios(arms), Targets: targets(arms)})
	for _, want := range []string{"| C gateway optimized | 100 |", "| C/D | DB statements/request |", "† D: count pass"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
	}

	fails := smokeFailures(arms, []Arm{allArms["A"], allArms["C"]})
	if len(fails) != 2 || !strings.Contains(strings.Join(fails, "\n"), "no successful streams") {
		t.Errorf("smoke failures = %q, want the two missing stream steps", fails)
	}
}

func TestWarnings(t *testing.T) {
	o := defaultOptions()
	pinned := hostInfo{Cores: 2, Pinning: "taskset: pinned"}
	tests := []struct {
		name   string
		arms   []*armSummary
		rounds []*roundResult
		host   hostInfo
		want   []string
	}{
		{"clean", []*armSummary{{Name: "A", Sweep: sweep(3000)}, {Name: "B", Sweep: sweep(1000)}, {Name: "C", Sweep: sweep(900)}}, nil, pinned, nil},
		{"mock-bound", []*armSummary{{Name: "A", Sweep: sweep(2000)}, {Name: "B", Sweep: sweep(1000)}, {Name: "C", Sweep: sweep(900)}}, nil, pinned,
			[]string{"under 3× the best gateway's (C, 900)", "under 3× B's"}},
		{"unpinned and busy", nil, nil, hostInfo{Cores: 2, Pinning: "unpinned (one core)", LoadStart: 3}, []string{"not pinned", "busy"}},
		{"fell behind", nil, []*roundResult{{Arm: "A", Round: 1, Steps: []*load.Result{step(10, time.Millisecond)}}}, pinned, []string{"sent 10 of 300"}},
		{"billing mismatch", []*armSummary{{Name: "C", Logs: &logSummary{RelaySuccesses: 5, ConsumeLogs: 5, UserRequests: 4, LogQuota: 10, UserUsedQuota: 8}}}, nil, pinned,
			[]string{"used_quota to 8", "request_count is 4 for 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := warnings(tt.arms, tt.rounds, o, tt.host)
			if g, w := len(got), len(tt.want); g != w {
				t.Fatalf("warnings = %q, want %d", got, w)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestTwoNodeReport(t *testing.T) {
	rates := []int{100}
	i64 := func(v int64) *int64 { return &v }
	round := func(arm string, lat time.Duration, cpu int64, succ, logs int64) *roundResult {
		return &roundResult{Arm: arm, Round: 1, Steps: []*load.Result{step(100, lat)}, Sweep: sweep(1000),
			Window: windowCounts{Requests: 100, CPUMicros: i64(cpu), DBStatements: i64(1), Successes: succ},
			Ledger: &gateway.Ledger{ConsumeLogs: logs}}
	}
	arms := []*armSummary{
		summarize(allArms["A"], rates, []*roundResult{{Arm: "A", Steps: []*load.Result{step(100, 100*time.Microsecond)}, Sweep: sweep(5000)}}, nil),
		summarize(allArms["C"], rates, []*roundResult{round("C", 300*time.Microsecond, 10000, 110, 110)}, nil),
		summarize(allArms["C2"], rates, []*roundResult{round("C2", 500*time.Microsecond, 15000, 111, 109)}, nil),
	}
	addBaseline(arms)
	var got []string
	for _, r := range ratios(arms) {
		if r.Pair == "C2/C" {
			got = append(got, r.Metric)
			if r.Metric == "CPU µs/request" && (r.Ratio < 1.49 || r.Ratio > 1.51) {
				t.Errorf("C2/C CPU ratio = %v, want 1.5", r.Ratio)
			}
		}
	}
	if len(got) == 0 || got[0] != "added p50 @100/s (µs)" {
		t.Errorf("C2/C ratios = %q, want the added latencies first", got)
	}
	fails := strings.Join(smokeFailures(arms, []Arm{allArms["C"], allArms["C2"]}), "\n")
	if !strings.Contains(fails, "C2: lost 2 consume logs") || strings.Contains(fails, "C: lost") {
		t.Errorf("smoke failures = %q, want C2's two lost logs only", fails)
	}
}

func TestBackend(t *testing.T) {
	pg := Options{SQLDSN: "postgres://u:secret@h/db", RedisURL: "redis://h:6379/0"}
	tests := []struct {
		name   string
		o      Options
		arms   []Arm
		pinned bool
		want   []string
		not    []string
	}{
		{"no gateway", Options{}, []Arm{allArms["A"]}, true, nil, nil},
		{"sqlite", Options{}, []Arm{allArms["C"]}, true, []string{"SQLite"}, []string{"PostgreSQL"}},
		{"two nodes pinned", pg, []Arm{allArms["C"], allArms["C2"]}, true, []string{"PostgreSQL postgres://u:xxxxx@h/db", "Redis redis://h:6379/0", "C2: 2 nodes", "all on CPU 0"}, []string{"secret"}},
		{"two nodes unpinned", pg, []Arm{allArms["C2"]}, false, []string{"unpinned, as every arm"}, []string{"CPU 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := backend(tt.o, tt.arms, tt.pinned)
			if tt.want == nil && got != "" {
				t.Errorf("backend = %q, want none", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("backend = %q, want it to contain %q", got, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("backend = %q, want it without %q", got, n)
				}
			}
		})
	}
}
