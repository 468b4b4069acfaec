package main

import (
	"fmt"
	"runtime"
	"strings"
)

// ratioRow is one figure of arm X over arm Y.
type ratioRow struct {
	Pair   string  `json:"pair"` // "C/D"
	Metric string  `json:"metric"`
	Num    float64 `json:"num"`
	Den    float64 `json:"den"`
	Ratio  float64 `json:"ratio"`
}

// targetCheck is one of issue 7's targets against this run.
type targetCheck struct {
	Target string `json:"target"`
	Got    string `json:"got"`
	Met    bool   `json:"met"`
}

// ratioPairs: C against the rollback, the floor and an external gateway;
// two nodes against one; the defaults against C; Go's GC defaults against C.
var ratioPairs = [][2]string{{"C", "D"}, {"C", "B"}, {"C", "E"}, {"C2", "C"}, {"F", "C"}, {"CG", "C"}, {"CP", "C"}}

// ratios compares the pairs of ratioPairs that both ran.
func ratios(arms []*armSummary) []ratioRow {
	var rows []ratioRow
	for _, p := range ratioPairs {
		x, y := find(arms, p[0]), find(arms, p[1])
		if x == nil || y == nil {
			continue
		}
		pair := p[0] + "/" + p[1]
		// A ratio over a zero or negative figure (an arm measured faster
		// than A by noise) means nothing, so it is left out.
		add := func(metric string, num, den *float64) {
			if num != nil && den != nil && *den > 0 {
				rows = append(rows, ratioRow{Pair: pair, Metric: metric, Num: *num, Den: *den, Ratio: *num / *den})
			}
		}
		for _, st := range x.Steps {
			o := stepAt(y, st.Rate)
			if o == nil {
				continue
			}
			add(fmt.Sprintf("added p50 @%d/s (µs)", st.Rate), st.AddedP50, o.AddedP50)
			add(fmt.Sprintf("added p95 @%d/s (µs)", st.Rate), st.AddedP95, o.AddedP95)
			add(fmt.Sprintf("added p99 @%d/s (µs)", st.Rate), st.AddedP99, o.AddedP99)
		}
		add("CPU µs/request", x.CPUPerReq, y.CPUPerReq)
		add("DB statements/request", x.DBPerReq, y.DBPerReq)
		add("max RPS", maxRPS(x), maxRPS(y))
		add("added TTFT p50 (µs)", x.AddedTTFT50, y.AddedTTFT50)
		add("added TTFT p99 (µs)", x.AddedTTFT, y.AddedTTFT)
	}
	return rows
}

func maxRPS(s *armSummary) *float64 {
	if s.Sweep == nil {
		return nil
	}
	return ptr(s.Sweep.MaxRPS)
}

// targets checks issue 7's list; a figure that is missing counts as missed.
func targets(arms []*armSummary) []targetCheck {
	c, d, b := find(arms, "C"), find(arms, "D"), find(arms, "B")
	if c == nil {
		return nil
	}
	var out []targetCheck
	perRate := func(name string, other *armSummary, value func(cs, os *stepSummary) *float64, ok func(float64) bool, format func(float64) string) {
		if other == nil {
			return
		}
		t := targetCheck{Target: name, Met: len(c.Steps) > 0}
		var got []string
		for i := range c.Steps {
			cs := &c.Steps[i]
			v := value(cs, stepAt(other, cs.Rate))
			if v == nil {
				got, t.Met = append(got, fmt.Sprintf("n/a @%d/s", cs.Rate)), false
				continue
			}
			got = append(got, fmt.Sprintf("%s @%d/s", format(*v), cs.Rate))
			t.Met = t.Met && ok(*v)
		}
		t.Got = strings.Join(got, ", ")
		if t.Got == "" {
			t.Got = "n/a"
		}
		out = append(out, t)
	}
	reduction := func(pick func(*stepSummary) *float64) func(cs, os *stepSummary) *float64 {
		return func(cs, os *stepSummary) *float64 {
			if os == nil {
				return nil
			}
			return change(pick(cs), pick(os))
		}
	}
	pct := func(v float64) string { return fmt.Sprintf("%+.0f%%", v) }
	perRate("C vs D: added p99 −80% or better", d, reduction(func(s *stepSummary) *float64 { return s.AddedP99 }), func(v float64) bool { return v <= -80 }, pct)
	perRate("C vs D: added p50 −60% or better", d, reduction(func(s *stepSummary) *float64 { return s.AddedP50 }), func(v float64) bool { return v <= -60 }, pct)
	if d != nil {
		out = append(out, single("C vs D: CPU/request −40% or better", change(c.CPUPerReq, d.CPUPerReq), func(v float64) bool { return v <= -40 }, pct))
		out = append(out, single("C vs D: DB statements/request −95% or better", change(c.DBPerReq, d.DBPerReq), func(v float64) bool { return v <= -95 }, pct))
	}
	out = append(out, single("C: DB statements/request ≤ 0.05", c.DBPerReq, func(v float64) bool { return v <= 0.05 }, func(v float64) string { return fmt.Sprintf("%.3f", v) }))
	if f := find(arms, "F"); f != nil {
		var r *float64
		if fr, cr := maxRPS(f), maxRPS(c); fr != nil && cr != nil && *cr > 0 {
			r = ptr(*fr / *cr)
		}
		out = append(out, single("F vs C: defaults' max RPS ≥ 0.6× C's", r, func(v float64) bool { return v >= 0.6 }, func(v float64) string { return fmt.Sprintf("%.2f×", v) }))
	}
	if b != nil {
		var r *float64
		if cr, br := maxRPS(c), maxRPS(b); cr != nil && br != nil && *br > 0 {
			r = ptr(*cr / *br)
		}
		out = append(out, single("C vs B: max RPS ≥ 0.6× B's at the same p99 bound", r, func(v float64) bool { return v >= 0.6 }, func(v float64) string { return fmt.Sprintf("%.2f×", v) }))
		perRate("C vs B: added p50 within 150 µs of B's", b, func(cs, bs *stepSummary) *float64 {
			if bs == nil || cs.AddedP50 == nil || bs.AddedP50 == nil {
				return nil
			}
			return ptr(*cs.AddedP50 - *bs.AddedP50)
		}, func(v float64) bool { return v <= 150 }, func(v float64) string { return fmt.Sprintf("%+.0f µs", v) })
	}
	out = append(out, single("C: stream added TTFT p99 ≤ 1 ms", c.AddedTTFT, func(v float64) bool { return v <= 1000 }, func(v float64) string { return fmt.Sprintf("%.0f µs", v) }))
	if b != nil {
		// Issue 19: the first token as fast as a bare proxy.
		minus := func(x, y *float64) *float64 {
			if x == nil || y == nil {
				return nil
			}
			return ptr(*x - *y)
		}
		us := func(v float64) string { return fmt.Sprintf("%+.0f µs", v) }
		within := func(v float64) bool { return v <= 300 }
		out = append(out, single("C vs B: stream added TTFT p50 within 300 µs of B's", minus(c.AddedTTFT50, b.AddedTTFT50), within, us))
		out = append(out, single("C vs B: stream added TTFT p99 within 300 µs of B's", minus(c.AddedTTFT, b.AddedTTFT), within, us))
	}
	var rss *float64
	if c.PeakRSS != nil {
		rss = ptr(float64(*c.PeakRSS) / (1 << 20))
	}
	out = append(out, single("C: peak RSS ≤ 100 MB", rss, func(v float64) bool { return v <= 100 }, func(v float64) string { return fmt.Sprintf("%.1f MB", v) }))
	out = append(out, single("C: zero errors", ptr(float64(c.Errors)), func(v float64) bool { return v == 0 }, func(v float64) string { return fmt.Sprintf("%.0f", v) }))
	var lost *float64
	if c.Logs != nil {
		lost = ptr(float64(c.Logs.Lost))
	}
	out = append(out, single("C: zero lost logs", lost, func(v float64) bool { return v == 0 }, func(v float64) string { return fmt.Sprintf("%.0f", v) }))
	return out
}

func single(name string, v *float64, ok func(float64) bool, format func(float64) string) targetCheck {
	if v == nil {
		return targetCheck{Target: name, Got: "n/a"}
	}
	return targetCheck{Target: name, Got: format(*v), Met: ok(*v)}
}

// change is the percentage change from old to new (−80 = 80 % less); nil
// when either is missing or old is not positive.
func change(newV, oldV *float64) *float64 {
	if newV == nil || oldV == nil || *oldV <= 0 {
		return nil
	}
	return ptr((*newV - *oldV) / *oldV * 100)
}

// warnings flags what makes a run less trustworthy.
func warnings(arms []*armSummary, rounds []*roundResult, o Options, h hostInfo) []string {
	var out []string
	if !strings.HasPrefix(h.Pinning, "taskset") {
		out = append(out, "not pinned ("+h.Pinning+"): arms share cores with the mock and the load generator")
	}
	if busy := float64(h.Cores) / 2; h.LoadStart > busy {
		out = append(out, fmt.Sprintf("the machine was busy before the run (load average %.1f on %d cores): other processes compete with the arms", h.LoadStart, h.Cores))
	}
	for _, rr := range rounds {
		for i, st := range rr.Steps {
			if i >= len(o.Rates) {
				break
			}
			want := float64(o.Rates[i]) * o.StepDur.Seconds()
			if float64(st.Requests) < 0.95*want {
				out = append(out, fmt.Sprintf("arm %s round %d: the load generator sent %d of %.0f requests at %d/s (it fell behind: the load side was short of CPU)", rr.Arm, rr.Round, st.Requests, want, o.Rates[i]))
			}
		}
	}
	if a := find(arms, "A"); a != nil && a.Sweep != nil {
		best, name := 0.0, ""
		for _, s := range arms {
			if s.Name != "A" && s.Name != "B" && s.Sweep != nil && s.Sweep.MaxRPS > best {
				best, name = s.Sweep.MaxRPS, s.Name
			}
		}
		if best > 0 && a.Sweep.MaxRPS < 3*best {
			out = append(out, fmt.Sprintf("direct-to-mock max RPS %.0f is under 3× the best gateway's (%s, %.0f): the mock and load generator may be the bottleneck, so gateway max RPS is understated", a.Sweep.MaxRPS, name, best))
		}
		// B is the floor, not a gateway, so it gets a note of its own: an
		// understated B flatters the C/B ratio.
		if b := find(arms, "B"); b != nil && b.Sweep != nil && b.Sweep.MaxRPS > 0 && a.Sweep.MaxRPS < 3*b.Sweep.MaxRPS {
			out = append(out, fmt.Sprintf("direct-to-mock max RPS %.0f is under 3× B's (%.0f): B's max RPS may be understated, which flatters C/B", a.Sweep.MaxRPS, b.Sweep.MaxRPS))
		}
	}
	for _, s := range arms {
		for _, f := range s.Failures {
			out = append(out, fmt.Sprintf("arm %s: %s", s.Name, firstLine(f)))
		}
		if l := s.Logs; l != nil {
			if l.Lost > 0 {
				out = append(out, fmt.Sprintf("arm %s lost %d consume logs", s.Name, l.Lost))
			}
			if l.LogQuota != l.UserUsedQuota {
				out = append(out, fmt.Sprintf("arm %s: consume logs add up to %d quota but users.used_quota to %d", s.Name, l.LogQuota, l.UserUsedQuota))
			}
			if l.UserRequests != l.RelaySuccesses {
				out = append(out, fmt.Sprintf("arm %s: users.request_count is %d for %d successful requests", s.Name, l.UserRequests, l.RelaySuccesses))
			}
		}
	}
	return out
}

// smokeFailures is what -quick asserts: every arm produced numbers and C
// (and C2) lost no logs. Speed is not judged.
func smokeFailures(arms []*armSummary, want []Arm) []string {
	var out []string
	for _, a := range want {
		s := find(arms, a.Name)
		switch {
		case s == nil:
			out = append(out, a.Name+": did not run")
			continue
		case s.RoundsOK == 0:
			why := "no round finished"
			if len(s.Failures) > 0 {
				why += ": " + firstLine(s.Failures[0])
			}
			out = append(out, a.Name+": "+why)
			continue
		}
		for _, st := range s.Steps {
			if st.Result.OK == 0 || st.Result.Latency.P50 <= 0 {
				out = append(out, fmt.Sprintf("%s: no successful requests at %d/s", a.Name, st.Rate))
			}
		}
		if len(s.Steps) == 0 {
			out = append(out, a.Name+": no fixed-rate steps")
		}
		if s.Sweep == nil || len(s.Sweep.Levels) == 0 || s.Sweep.Levels[0].Result.OK == 0 {
			out = append(out, a.Name+": no sweep numbers")
		}
		if s.Stream == nil || s.Stream.OK == 0 {
			out = append(out, a.Name+": no successful streams")
		}
		if runtime.GOOS == "linux" && (a.Kind == kindProxy || a.Kind == kindGateway) && s.CPUPerReq == nil {
			out = append(out, a.Name+": no CPU figure")
		}
	}
	for _, name := range []string{"C", "C2"} {
		c := find(arms, name)
		switch {
		case c == nil:
		case c.Logs == nil:
			out = append(out, name+": consume logs not counted")
		case c.Logs.Lost > 0:
			out = append(out, fmt.Sprintf("%s: lost %d consume logs", name, c.Logs.Lost))
		}
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
