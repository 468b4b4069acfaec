package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// writeMarkdown prints the report as the tables docs/benchmarks.md uses.
func writeMarkdown(w io.Writer, r *Report) {
	o := r.Options
	fmt.Fprintf(w, "## one-api benchmark, %s\n\n", r.Date)
	fmt.Fprintf(w, "%d cores (%s), %s, %s; %s. %d round(s), arms rotated; run took %s.\n\n",
		r.Host.Cores, r.Host.CPU, r.Host.OS, r.Host.GoVersion, r.Host.Pinning, o.Rounds, r.Elapsed)
	fmt.Fprintf(w, "Mock: latency %v (+ jitter %v), %d-byte body, stream %d chunks %v apart, failure rate %.3g, usage %v. Steps: %v each at %s req/s; sweep %s workers × %v, p99 bound %v; streams %d/s × %v of %d chunks%s.\n\n",
		o.Mock.Latency, o.Mock.Jitter, o.Mock.BodyBytes, o.Mock.Chunks, o.Mock.ChunkGap, o.Mock.FailureRate, o.Mock.Usage,
		o.StepDur, joinInts(o.Rates), joinInts(o.Levels), o.SweepDur, o.P99Bound, o.StreamRate, o.StreamDur, min(o.StreamTokens, o.Mock.Chunks), streamCaps(o))
	if r.Backend != "" {
		fmt.Fprintf(w, "Gateway database: %s.\n\n", r.Backend)
	}

	fmt.Fprintln(w, "### Fixed-rate steps (open loop); added = arm − A at the same rate, µs")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| arm | rate/s | ok | errors | p50 µs | p95 µs | p99 µs | added p50 | added p95 | added p99 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, a := range r.Arms {
		for _, st := range a.Steps {
			l := st.Result.Latency
			fmt.Fprintf(w, "| %s %s | %d | %d | %d | %.0f | %.0f | %.0f | %s | %s | %s |\n", a.Name, a.Label, st.Rate,
				st.Result.OK, st.Result.Errors, l.P50, l.P95, l.P99, num(st.AddedP50, "%+.0f"), num(st.AddedP95, "%+.0f"), num(st.AddedP99, "%+.0f"))
		}
	}

	fmt.Fprintln(w)
	fmt.Fprintf(w, "### Per arm (max RPS: closed loop, p99 ≤ %v and zero errors)\n\n", o.P99Bound)
	fmt.Fprintln(w, "| arm | max RPS | CPU µs/req | CPU µs/req sweep | DB stmts/req | peak RSS MB | errors | lost logs | TTFT p50/p99 µs | added TTFT p50/p99 | gap p50/p99 µs | added gap p99 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, a := range r.Arms {
		maxRPS, ttft, gap := "n/a", "n/a", "n/a"
		if a.Sweep != nil {
			maxRPS = fmt.Sprintf("%.0f", a.Sweep.MaxRPS)
			if a.Sweep.MaxWorkers > 0 {
				maxRPS += fmt.Sprintf(" (%d)", a.Sweep.MaxWorkers)
			}
		}
		if a.Stream != nil && a.Stream.OK > 0 {
			ttft = fmt.Sprintf("%.0f / %.0f", a.Stream.TTFT.P50, a.Stream.TTFT.P99)
			gap = fmt.Sprintf("%.0f / %.0f", a.Stream.Gap.P50, a.Stream.Gap.P99)
		}
		rss, lost := "n/a", "n/a"
		if a.PeakRSS != nil {
			rss = fmt.Sprintf("%.1f", float64(*a.PeakRSS)/(1<<20))
		}
		if a.Logs != nil {
			lost = fmt.Sprintf("%d of %d", a.Logs.Lost, a.Logs.RelaySuccesses)
		}
		db := num(a.DBPerReq, "%.3f")
		if a.DBSource != "" && a.DBSource != "gateway metrics" {
			db += "†"
		}
		fmt.Fprintf(w, "| %s %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s |\n", a.Name, a.Label, maxRPS,
			num(a.CPUPerReq, "%.0f"), num(a.CPUAtSat, "%.0f"), db, rss, a.Errors, lost, ttft, num(a.AddedTTFT50, "%+.0f")+" / "+num(a.AddedTTFT, "%+.0f"), gap, num(a.AddedGap, "%+.0f"))
	}
	for _, a := range r.Arms {
		if a.DBSource != "" && a.DBSource != "gateway metrics" {
			fmt.Fprintf(w, "\n† %s: %s (its rounds run with metrics off, as the rollback does).\n", a.Name, a.DBSource)
		}
	}

	if len(r.Ratios) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "### Ratios")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| pair X/Y | metric | X | Y | ratio | change |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
		for _, x := range r.Ratios {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %.3f | %+.0f%% |\n", x.Pair, x.Metric, short(x.Num), short(x.Den), x.Ratio, (x.Ratio-1)*100)
		}
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "### Targets (issue 7)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| target | this run | met |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, t := range r.Targets {
			met := "no"
			if t.Met {
				met = "yes"
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", t.Target, t.Got, met)
		}
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "### Warnings")
		fmt.Fprintln(w)
		for _, s := range r.Warnings {
			fmt.Fprintf(w, "- %s\n", strings.ReplaceAll(s, "\n", " "))
		}
	}
}

func num(v *float64, format string) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf(format, *v)
}

// short prints large figures whole and small ones (statements per request)
// with three significant digits.
func short(v float64) string {
	if v >= 100 || v <= -100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func roundDur(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }

// streamCaps names the arms of the run that stream below -stream-rate.
func streamCaps(o Options) string {
	arms, _ := armsFor(o)
	var caps []string
	for _, a := range arms {
		if r := a.streamRate(o.StreamRate); r < o.StreamRate {
			caps = append(caps, fmt.Sprintf("%s at %d/s", a.Name, r))
		}
	}
	if len(caps) == 0 {
		return ""
	}
	return " (" + strings.Join(caps, ", ") + ")"
}
