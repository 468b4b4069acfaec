package load

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// StreamResult is an SSE step: whole-stream results plus time to first
// chunk and the gaps between chunks as the client saw them.
type StreamResult struct {
	*Result
	TTFT    Summary `json:"ttft"`
	Gap     Summary `json:"chunk_gap"`
	Chunks  int64   `json:"chunks"`
	TTFTH   *Hist   `json:"-"`
	GapHist *Hist   `json:"-"`
}

// Streams opens t as an SSE stream at a fixed rate for d, each on its own
// goroutine so that a slow stream never delays the next start (open loop),
// and waits for every stream to end.
func Streams(ctx context.Context, client *http.Client, t Target, rate int, d time.Duration) (*StreamResult, error) {
	if rate <= 0 || d <= 0 {
		return nil, fmt.Errorf("streams: rate %d and duration %v must be positive", rate, d)
	}
	out := &StreamResult{Result: newResult(), TTFTH: NewHist(), GapHist: NewHist()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
loop:
	for i := 0; ; i++ {
		next := start.Add(time.Duration(i) * interval)
		if next.Sub(start) >= d {
			break
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			break loop
		case <-timer.C:
		}
		wg.Go(func() {
			s := readStream(ctx, client, t)
			mu.Lock()
			defer mu.Unlock()
			out.add(s.code, s.total, s.err)
			if s.err == "" && s.code == http.StatusOK {
				out.TTFTH.Record(s.ttft)
				for _, g := range s.gaps {
					out.GapHist.Record(g)
				}
				out.Chunks += int64(len(s.gaps) + 1)
			}
		})
	}
	wg.Wait()
	out.finish(time.Since(start))
	out.TTFT, out.Gap = out.TTFTH.Summary(), out.GapHist.Summary()
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("streams: %w", err)
	}
	return out, nil
}

type streamStats struct {
	code  int
	err   string
	ttft  time.Duration
	total time.Duration
	gaps  []time.Duration
}

var (
	dataPrefix = []byte("data:")
	doneEvent  = []byte("[DONE]")
)

// readStream counts every data event before [DONE] as a chunk; a stream
// without [DONE] is an error, since the client cannot tell it finished.
func readStream(ctx context.Context, client *http.Client, t Target) streamStats {
	var s streamStats
	req, err := t.request()
	if err != nil {
		s.err = err.Error()
		return s
	}
	start := time.Now()
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		s.total, s.err = time.Since(start), err.Error()
		return s
	}
	defer resp.Body.Close()
	s.code = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		s.total, s.err = time.Since(start), resp.Status
		return s
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var last time.Time
	done := false
	for sc.Scan() {
		payload, ok := bytes.CutPrefix(sc.Bytes(), dataPrefix)
		if !ok {
			continue
		}
		now := time.Now()
		if bytes.Equal(bytes.TrimSpace(payload), doneEvent) {
			done = true
			break
		}
		if last.IsZero() {
			s.ttft = now.Sub(start)
		} else {
			s.gaps = append(s.gaps, now.Sub(last))
		}
		last = now
	}
	s.total = time.Since(start)
	// Reading to EOF lets the connection go back to the pool.
	_, _ = io.Copy(io.Discard, resp.Body)
	switch {
	case sc.Err() != nil:
		s.err = fmt.Sprintf("read stream: %v", sc.Err())
	case !done:
		s.err = "stream ended without [DONE]"
	case last.IsZero():
		s.err = "stream had no chunks"
	}
	return s
}

// CombineStreams adds up stream steps, e.g. the same step over several rounds.
func CombineStreams(rs ...*StreamResult) *StreamResult {
	out := &StreamResult{Result: newResult(), TTFTH: NewHist(), GapHist: NewHist()}
	for _, r := range rs {
		if r == nil {
			continue
		}
		out.merge(r.Result)
		out.Elapsed += r.Elapsed
		out.TTFTH.Merge(r.TTFTH)
		out.GapHist.Merge(r.GapHist)
		out.Chunks += r.Chunks
	}
	out.finish(out.Elapsed)
	out.TTFT, out.Gap = out.TTFTH.Summary(), out.GapHist.Summary()
	return out
}
