package main

import (
	"slices"

	"one-api/bench/load"
)

// Report is the whole run: what was measured per arm, the C/D and C/B
// comparisons, the targets, and every raw round.
type Report struct {
	Date     string         `json:"date"`
	Elapsed  string         `json:"elapsed"`
	Host     hostInfo       `json:"host"`
	Backend  string         `json:"backend,omitempty"` // where the gateway arms kept their state
	Options  Options        `json:"options"`
	Arms     []*armSummary  `json:"arms"`
	Ratios   []ratioRow     `json:"ratios"`
	Targets  []targetCheck  `json:"targets"`
	Warnings []string       `json:"warnings,omitempty"`
	Rounds   []*roundResult `json:"rounds"`
}

type hostInfo struct {
	Cores     int    `json:"cores"`
	CPU       string `json:"cpu,omitempty"`
	OS        string `json:"os"`
	GoVersion string `json:"go"`
	Pinning   string `json:"pinning"`
	// 1-minute load average before and after: a busy machine makes every
	// figure noisier.
	LoadStart float64 `json:"load_avg_start"`
	LoadEnd   float64 `json:"load_avg_end"`
}

type stepSummary struct {
	Rate   int          `json:"rate"`
	Result *load.Result `json:"result"`
	// Added latency is the arm's percentile minus A's at the same rate;
	// nil when A did not run.
	AddedP50 *float64 `json:"added_p50_us,omitempty"`
	AddedP95 *float64 `json:"added_p95_us,omitempty"`
	AddedP99 *float64 `json:"added_p99_us,omitempty"`
}

// logSummary compares what the client saw succeed with what the gateway
// wrote, summed over its processes.
type logSummary struct {
	RelaySuccesses int64 `json:"relay_successes"`
	ConsumeLogs    int64 `json:"consume_logs"`
	Lost           int64 `json:"lost"`  // successes without a consume log
	Extra          int64 `json:"extra"` // logs beyond successes (requests the client gave up on)
	LogQuota       int64 `json:"log_quota"`
	UserUsedQuota  int64 `json:"user_used_quota"`
	UserRequests   int64 `json:"user_request_count"`
}

type armSummary struct {
	Name        string             `json:"name"`
	Label       string             `json:"label"`
	RoundsOK    int                `json:"rounds_ok"`
	Failures    []string           `json:"failures,omitempty"`
	Steps       []stepSummary      `json:"steps"`
	Sweep       *load.Sweep        `json:"sweep,omitempty"`
	Stream      *load.StreamResult `json:"stream,omitempty"`
	AddedTTFT   *float64           `json:"added_ttft_p99_us,omitempty"`
	AddedTTFT50 *float64           `json:"added_ttft_p50_us,omitempty"`
	AddedGap    *float64           `json:"added_gap_p99_us,omitempty"`
	CPUPerReq   *float64           `json:"cpu_us_per_request,omitempty"`
	CPUAtSat    *float64           `json:"cpu_us_per_request_sweep,omitempty"`
	DBPerReq    *float64           `json:"db_statements_per_request,omitempty"`
	DBSource    string             `json:"db_statements_source,omitempty"`
	PeakRSS     *int64             `json:"peak_rss_bytes,omitempty"`
	Errors      int64              `json:"errors"` // fixed-rate and stream steps
	Logs        *logSummary        `json:"logs,omitempty"`
}

// summarize aggregates the rounds of one arm; extra are rounds that count
// only for statements and logs (the D count pass).
func summarize(a Arm, rates []int, rounds, extra []*roundResult) *armSummary {
	s := &armSummary{Name: a.Name, Label: a.Label}
	var sweeps []*load.Sweep
	var streams []*load.StreamResult
	var cpuUS, cpuReqs, satUS, satReqs int64
	for _, rr := range rounds {
		if rr.Err == "" {
			s.RoundsOK++
		}
		if rr.Sweep != nil {
			sweeps = append(sweeps, rr.Sweep)
		}
		if rr.Stream != nil {
			streams = append(streams, rr.Stream)
		}
		if rr.Window.CPUMicros != nil {
			cpuUS += *rr.Window.CPUMicros
			cpuReqs += rr.Window.Requests
		}
		if rr.Window.SweepCPUMicros != nil {
			satUS += *rr.Window.SweepCPUMicros
			satReqs += rr.Window.SweepRequests
		}
		if p := rr.Window.PeakRSS; p != nil && (s.PeakRSS == nil || *p > *s.PeakRSS) {
			s.PeakRSS = p
		}
	}
	for i, rate := range rates {
		var rs []*load.Result
		for _, rr := range rounds {
			if i < len(rr.Steps) {
				rs = append(rs, rr.Steps[i])
			}
		}
		if len(rs) > 0 {
			r := load.Combine(rs...)
			s.Steps = append(s.Steps, stepSummary{Rate: rate, Result: r})
			s.Errors += r.Errors
		}
	}
	if len(sweeps) > 0 {
		s.Sweep = load.CombineSweeps(sweeps...)
	}
	if len(streams) > 0 {
		s.Stream = load.CombineStreams(streams...)
		s.Errors += s.Stream.Errors
	}
	if cpuReqs > 0 {
		s.CPUPerReq = ptr(float64(cpuUS) / float64(cpuReqs))
	}
	if satReqs > 0 {
		s.CPUAtSat = ptr(float64(satUS) / float64(satReqs))
	}
	if s.DBPerReq = statements(rounds); s.DBPerReq != nil {
		s.DBSource = "gateway metrics"
	} else if s.DBPerReq = statements(extra); s.DBPerReq != nil {
		s.DBSource = "count pass with METRICS_ENABLED=true"
	}
	s.Logs = ledgers(append(slices.Clone(rounds), extra...))
	s.Failures = failures(append(slices.Clone(rounds), extra...))
	return s
}

func statements(rounds []*roundResult) *float64 {
	var n, reqs int64
	for _, rr := range rounds {
		if rr.Window.DBStatements != nil && rr.Window.Requests > 0 {
			n += *rr.Window.DBStatements
			reqs += rr.Window.Requests
		}
	}
	if reqs == 0 {
		return nil
	}
	return ptr(float64(n) / float64(reqs))
}

func ledgers(rounds []*roundResult) *logSummary {
	var l logSummary
	found := false
	for _, rr := range rounds {
		if rr.Ledger == nil {
			continue
		}
		found = true
		succ, logs := rr.Window.Successes, rr.Ledger.ConsumeLogs
		l.RelaySuccesses += succ
		l.ConsumeLogs += logs
		l.Lost += max(0, succ-logs)
		l.Extra += max(0, logs-succ)
		l.LogQuota += rr.Ledger.LogQuota
		l.UserUsedQuota += rr.Ledger.UserUsedQuota
		l.UserRequests += rr.Ledger.UserRequests
	}
	if !found {
		return nil
	}
	return &l
}

func failures(rounds []*roundResult) []string {
	var out []string
	for _, rr := range rounds {
		for _, msg := range append([]string{rr.Err}, rr.Notes...) {
			if msg != "" && !slices.Contains(out, msg) {
				out = append(out, msg)
			}
		}
	}
	return out
}

// addBaseline fills the added-latency fields from arm A.
func addBaseline(arms []*armSummary) {
	base := find(arms, "A")
	if base == nil {
		return
	}
	for _, s := range arms {
		if s == base {
			continue
		}
		for i := range s.Steps {
			st := &s.Steps[i]
			b := stepAt(base, st.Rate)
			if b == nil {
				continue
			}
			st.AddedP50 = ptr(st.Result.Latency.P50 - b.Result.Latency.P50)
			st.AddedP95 = ptr(st.Result.Latency.P95 - b.Result.Latency.P95)
			st.AddedP99 = ptr(st.Result.Latency.P99 - b.Result.Latency.P99)
		}
		if s.Stream != nil && base.Stream != nil && s.Stream.OK > 0 && base.Stream.OK > 0 {
			s.AddedTTFT = ptr(s.Stream.TTFT.P99 - base.Stream.TTFT.P99)
			s.AddedTTFT50 = ptr(s.Stream.TTFT.P50 - base.Stream.TTFT.P50)
			s.AddedGap = ptr(s.Stream.Gap.P99 - base.Stream.Gap.P99)
		}
	}
}

func find(arms []*armSummary, name string) *armSummary {
	for _, a := range arms {
		if a.Name == name {
			return a
		}
	}
	return nil
}

func stepAt(s *armSummary, rate int) *stepSummary {
	for i := range s.Steps {
		if s.Steps[i].Rate == rate {
			return &s.Steps[i]
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
