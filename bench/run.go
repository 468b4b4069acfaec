package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"one-api/bench/gateway"
	"one-api/bench/load"
	"one-api/bench/procstat"
)

// roundResult is one arm in one round, raw; report.go aggregates rounds.
type roundResult struct {
	Arm    string             `json:"arm"`
	Round  int                `json:"round"`
	Steps  []*load.Result     `json:"steps"` // one per Options.Rates entry
	Sweep  *load.Sweep        `json:"sweep,omitempty"`
	Stream *load.StreamResult `json:"stream,omitempty"`
	Err    string             `json:"error,omitempty"`
	// StartFailed: the arm never ran; later rounds skip it.
	StartFailed bool            `json:"start_failed,omitempty"`
	Notes       []string        `json:"notes,omitempty"`
	Ledger      *gateway.Ledger `json:"ledger,omitempty"`
	Exits       []gateway.Exit  `json:"exits,omitempty"` // one per gateway node
	// Schema is the PostgreSQL schema (and Redis key prefix) the round ran
	// on; dropped after the ledger was read unless -keep.
	Schema string       `json:"schema,omitempty"`
	Window windowCounts `json:"window"`
}

// windowCounts covers the fixed-rate steps (plus the settle wait): the same
// requests for every arm, so CPU and statements per request compare.
type windowCounts struct {
	Requests     int64  `json:"requests"`
	CPUMicros    *int64 `json:"cpu_us,omitempty"`
	DBStatements *int64 `json:"db_statements,omitempty"`
	PeakRSS      *int64 `json:"peak_rss_bytes,omitempty"` // VmHWM before stop, summed over nodes
	// The sweep's CPU, for the cost of a request at saturation, where idle
	// wake-ups no longer dominate.
	SweepCPUMicros *int64 `json:"sweep_cpu_us,omitempty"`
	SweepRequests  int64  `json:"sweep_requests"`
	Successes      int64  `json:"relay_successes"` // every 200 sent to this process, all phases
}

// measure runs every phase against one arm and stops it. A failure to start
// or set up the arm is recorded in Err, not returned: the other arms go on.
func measure(ctx context.Context, e *env, a Arm, round int, countOnly bool, progress io.Writer) *roundResult {
	rr := &roundResult{Arm: a.Name, Round: round}
	in, err := startArm(ctx, e, a, round)
	if err != nil {
		rr.Err, rr.StartFailed = err.Error(), true
		return rr
	}
	rr.Window.Successes += int64(len(in.gws)) // each node's probe
	err = runPhases(ctx, e, in, rr, countOnly, progress)
	if err != nil {
		rr.Err = err.Error()
	}
	stopArm(e, in, rr)
	return rr
}

func runPhases(ctx context.Context, e *env, in *instance, rr *roundResult, countOnly bool, progress io.Writer) error {
	o := e.opts
	client := load.NewClient(o.Timeout)
	if len(in.hosts) > 1 {
		client.Transport = load.RoundRobin(client.Transport, in.hosts...)
	}
	defer client.CloseIdleConnections()
	chat := target(in, chatBody(o.Model, false, nonStreamTokens))

	if o.Warmup > 0 {
		r, err := load.OpenLoop(ctx, client, chat, o.Rates[0], o.Warmup)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		rr.Window.Successes += r.OK
	}
	metrics := false
	if len(in.gws) > 0 && in.arm.metrics() {
		if err := resetMetrics(ctx, in.gws); err != nil {
			rr.Notes = append(rr.Notes, err.Error())
		} else {
			metrics = true
		}
	}
	cpu0, cpuErr := cpuTime(in.pids)
	for _, rate := range o.Rates {
		r, err := load.OpenLoop(ctx, client, chat, rate, o.StepDur)
		if err != nil {
			return fmt.Errorf("step %d/s: %w", rate, err)
		}
		rr.Steps = append(rr.Steps, r)
		rr.Window.Requests += r.Requests
		rr.Window.Successes += r.OK
		fmt.Fprintf(progress, "  %-2s %5d/s  ok %6d  err %4d  p50 %8.0fµs  p99 %8.0fµs\n", in.arm.Name, rate, r.OK, r.Errors, r.Latency.P50, r.Latency.P99)
	}
	if err := sleepCtx(ctx, settle(in.arm, o.Settle)); err != nil {
		return err
	}
	if cpuErr == nil {
		if cpu1, err := cpuTime(in.pids); err == nil {
			us := (cpu1 - cpu0).Microseconds()
			rr.Window.CPUMicros = &us
		}
	}
	if metrics {
		if n, err := dbStatements(ctx, in.gws); err != nil {
			rr.Notes = append(rr.Notes, err.Error())
		} else {
			rr.Window.DBStatements = &n
		}
	}
	if countOnly {
		return nil
	}

	cpu0, cpuErr = cpuTime(in.pids)
	sw, err := load.RunSweep(ctx, client, chat, o.Levels, o.SweepDur, o.P99Bound)
	rr.Sweep = sw
	for _, l := range sw.Levels {
		rr.Window.Successes += l.Result.OK
		rr.Window.SweepRequests += l.Result.Requests
	}
	if cpuErr == nil {
		if cpu1, err := cpuTime(in.pids); err == nil {
			us := (cpu1 - cpu0).Microseconds()
			rr.Window.SweepCPUMicros = &us
		}
	}
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	fmt.Fprintf(progress, "  %-2s sweep     max %6.0f req/s at %d workers\n", in.arm.Name, sw.MaxRPS, sw.MaxWorkers)

	st, err := load.Streams(ctx, client, target(in, chatBody(o.Model, true, o.StreamTokens)), in.arm.streamRate(o.StreamRate), o.StreamDur)
	rr.Stream = st
	if st != nil {
		rr.Window.Successes += st.OK
	}
	if err != nil {
		return fmt.Errorf("streams: %w", err)
	}
	fmt.Fprintf(progress, "  %-2s streams   ok %6d  err %4d  ttft p50 %6.0fµs p99 %6.0fµs  gap p50 %6.0fµs\n", in.arm.Name, st.OK, st.Errors, st.TTFT.P50, st.TTFT.P99, st.Gap.P50)
	if rss, err := peakRSS(in.pids); err == nil {
		rr.Window.PeakRSS = &rss
	}
	return nil
}

// stopArm ends the arm's processes and, for a gateway, reads its ledger
// once every node has exited (a node's last batch is flushed on SIGTERM).
func stopArm(e *env, in *instance, rr *roundResult) {
	if in.proxy != nil {
		in.proxy.stop(5 * time.Second)
		return
	}
	if len(in.gws) == 0 {
		return
	}
	for i, gw := range in.gws {
		ex, err := gw.Stop(e.opts.StopTimeout)
		rr.Exits = append(rr.Exits, ex)
		if err != nil {
			rr.Notes = append(rr.Notes, fmt.Sprintf("node %d: %v", i+1, err))
		}
		if ex.Code != 0 {
			rr.Notes = append(rr.Notes, fmt.Sprintf("node %d: gateway exit status %d %s: %s", i+1, ex.Code, ex.Signal, gw.LogTail(512)))
		}
	}
	// The ledger read and the clean-up run even when the run was
	// interrupted: a schema must not be left behind.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var l gateway.Ledger
	var err error
	if in.shared != nil {
		rr.Schema = in.shared.Schema
		l, err = in.shared.ReadLedger(ctx)
		if relErr := releaseShared(ctx, e, in.shared); relErr != nil {
			rr.Notes = append(rr.Notes, relErr.Error())
		}
	} else {
		l, err = gateway.ReadLedger(in.gws[0].DBPath)
	}
	if err != nil {
		rr.Notes = append(rr.Notes, err.Error())
	} else {
		rr.Ledger = &l
	}
}

// resetMetrics restarts the metrics window of every node.
func resetMetrics(ctx context.Context, gws []*gateway.Process) error {
	for _, gw := range gws {
		if err := gw.ResetMetrics(ctx); err != nil {
			return err
		}
	}
	return nil
}

// dbStatements is the statements of every node since the reset.
func dbStatements(ctx context.Context, gws []*gateway.Process) (int64, error) {
	var n int64
	for _, gw := range gws {
		m, err := gw.ReadMetrics(ctx)
		if err != nil {
			return 0, err
		}
		n += m.DBQueryCount
	}
	return n, nil
}

func target(in *instance, body []byte) load.Target {
	h := http.Header{"Content-Type": {"application/json"}}
	if in.key != "" {
		h.Set("Authorization", "Bearer "+in.key)
	}
	return load.Target{Method: http.MethodPost, URL: in.baseURL + "/v1/chat/completions", Header: h, Body: body}
}

var errNoProcess = errors.New("no process to measure")

// cpuTime is the CPU time of the arm's processes together: what the
// requests cost the machine, however many nodes served them.
func cpuTime(pids []int) (time.Duration, error) {
	if len(pids) == 0 {
		return 0, errNoProcess
	}
	var sum time.Duration
	for _, pid := range pids {
		d, err := procstat.CPUTime(pid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// peakRSS is the arm's processes' peak resident memory, summed.
func peakRSS(pids []int) (int64, error) {
	if len(pids) == 0 {
		return 0, errNoProcess
	}
	var sum int64
	for _, pid := range pids {
		n, err := procstat.PeakRSS(pid)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// settle is the idle wait before CPU and statements are read: the full
// -settle for an arm that batches writes, up to a second for any other
// gateway (writes that trail the last responses), none for the rest.
func settle(a Arm, d time.Duration) time.Duration {
	switch {
	case a.Settle:
		return d
	case a.Kind == kindGateway:
		return min(d, time.Second)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
