package load

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
)

// ClosedLoop runs workers that each send t, wait for the answer and send
// again, for d. Its RPS is the throughput at that concurrency.
func ClosedLoop(ctx context.Context, client *http.Client, t Target, workers int, d time.Duration) (*Result, error) {
	if workers <= 0 || d <= 0 {
		return nil, fmt.Errorf("closed loop: workers %d and duration %v must be positive", workers, d)
	}
	parts := make([]*Result, workers)
	var wg sync.WaitGroup
	start := time.Now()
	// Workers stop starting requests at the deadline but let the ones in
	// flight finish: a request cut by the harness could still be billed and
	// logged by the gateway, which would blur the lost-log count.
	deadline := start.Add(d)
	for i := range parts {
		parts[i] = newResult()
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				code, lat, errText := hit(ctx, client, t)
				parts[i].add(code, lat, errText)
			}
		})
	}
	wg.Wait()
	res := newResult()
	for _, p := range parts {
		res.merge(p)
	}
	res.finish(time.Since(start))
	return res, nil
}

func hit(ctx context.Context, client *http.Client, t Target) (int, time.Duration, string) {
	req, err := t.request()
	if err != nil {
		return 0, 0, err.Error()
	}
	req = req.WithContext(ctx)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, time.Since(start), err.Error()
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	lat := time.Since(start)
	if err != nil {
		return 0, lat, fmt.Sprintf("read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, lat, resp.Status
	}
	return resp.StatusCode, lat, ""
}

// Level is one concurrency level of a sweep.
type Level struct {
	Workers int     `json:"workers"`
	Result  *Result `json:"result"`
}

// Sweep is a closed-loop run at rising concurrency.
type Sweep struct {
	Levels []Level `json:"levels"`
	// MaxRPS is the best throughput among levels with p99 within the bound
	// and no errors; 0 when none qualifies.
	MaxRPS     float64 `json:"max_rps"`
	MaxWorkers int     `json:"max_rps_workers"`
	P99Bound   float64 `json:"p99_bound_us"`
}

// RunSweep tries each concurrency level in order for d, and stops early once
// a level errs or its p99 is far past the bound, since higher levels would
// only be worse.
func RunSweep(ctx context.Context, client *http.Client, t Target, levels []int, d, p99Bound time.Duration) (*Sweep, error) {
	sw := &Sweep{P99Bound: float64(p99Bound.Microseconds())}
	for _, n := range levels {
		r, err := ClosedLoop(ctx, client, t, n, d)
		if err != nil {
			return sw, err
		}
		if ctx.Err() != nil {
			return sw, fmt.Errorf("sweep: %w", ctx.Err())
		}
		sw.add(n, r)
		if r.Errors > 0 || r.Latency.P99 > 4*sw.P99Bound {
			break
		}
	}
	return sw, nil
}

// add appends a level and keeps it as the max when it qualifies.
func (s *Sweep) add(workers int, r *Result) {
	s.Levels = append(s.Levels, Level{Workers: workers, Result: r})
	if r.Errors == 0 && r.Latency.P99 <= s.P99Bound && r.RPS > s.MaxRPS {
		s.MaxRPS, s.MaxWorkers = r.RPS, workers
	}
}

func (r *Result) merge(o *Result) {
	r.Requests += o.Requests
	r.OK += o.OK
	r.Errors += o.Errors
	for c, n := range o.Codes {
		r.Codes[c] += n
	}
	if r.Sample == "" {
		r.Sample = o.Sample
	}
	r.Hist.Merge(o.Hist)
}

// Combine adds up steps, e.g. the same step over several rounds: counts and
// histograms are summed, RPS is over the summed elapsed time.
func Combine(rs ...*Result) *Result {
	out := newResult()
	for _, r := range rs {
		if r == nil {
			continue
		}
		out.merge(r)
		out.Elapsed += r.Elapsed
	}
	out.finish(out.Elapsed)
	return out
}

// CombineSweeps merges sweeps of several rounds level by level (same worker
// count) and picks the max RPS again from the merged levels.
func CombineSweeps(ss ...*Sweep) *Sweep {
	out := &Sweep{}
	byWorkers := map[int][]*Result{}
	for _, s := range ss {
		if s == nil {
			continue
		}
		out.P99Bound = s.P99Bound
		for _, l := range s.Levels {
			byWorkers[l.Workers] = append(byWorkers[l.Workers], l.Result)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(byWorkers)) {
		out.add(n, Combine(byWorkers[n]...))
	}
	return out
}
