package load

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"one-api/bench/mock"
)

// countingServer answers status and counts what it served.
func countingServer(t *testing.T, status int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func target(url string) Target {
	return Target{Method: http.MethodPost, URL: url, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{}`)}
}

func TestOpenLoop(t *testing.T) {
	for _, status := range []int{200, 500} {
		srv, served := countingServer(t, status)
		res, err := OpenLoop(context.Background(), NewClient(5*time.Second), target(srv.URL), 200, 250*time.Millisecond)
		if err != nil {
			t.Fatalf("OpenLoop: %v", err)
		}
		if res.Requests == 0 {
			t.Fatalf("status %d: no requests sent", status)
		}
		if g, w := res.Requests, served.Load(); g != w {
			t.Errorf("status %d: counted %d requests, server saw %d", status, g, w)
		}
		if g, w := res.Codes[status], res.Requests; g != w {
			t.Errorf("status %d: codes[%d] = %d, want %d", status, status, g, w)
		}
		wantOK := res.Requests
		if status != 200 {
			wantOK = 0
		}
		if g := res.OK; g != wantOK {
			t.Errorf("status %d: ok = %d, want %d", status, g, wantOK)
		}
		if g, w := res.Errors, res.Requests-wantOK; g != w {
			t.Errorf("status %d: errors = %d, want %d", status, g, w)
		}
		if res.Latency.P50 <= 0 || res.Latency.Count != res.Requests {
			t.Errorf("status %d: latency %+v, want %d values above zero", status, res.Latency, res.Requests)
		}
	}
}

func TestClosedLoopCountsEveryRequest(t *testing.T) {
	srv, served := countingServer(t, 200)
	res, err := ClosedLoop(context.Background(), NewClient(5*time.Second), target(srv.URL), 4, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("ClosedLoop: %v", err)
	}
	if res.OK == 0 || res.Errors != 0 {
		t.Fatalf("ok %d errors %d (%s), want some ok and no errors", res.OK, res.Errors, res.Sample)
	}
	if g, w := res.Requests, served.Load(); g != w {
		t.Errorf("counted %d requests, server saw %d", g, w)
	}
	if res.RPS <= 0 {
		t.Errorf("rps = %v, want > 0", res.RPS)
	}
}

func TestSweep(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		wantLevels int
		wantMax    bool
	}{
		{"healthy", 200, 2, true},
		{"failing stops after the first level", 500, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := countingServer(t, tt.status)
			sw, err := RunSweep(context.Background(), NewClient(5*time.Second), target(srv.URL), []int{1, 2}, 50*time.Millisecond, time.Minute)
			if err != nil {
				t.Fatalf("RunSweep: %v", err)
			}
			if g, w := len(sw.Levels), tt.wantLevels; g != w {
				t.Errorf("levels = %d, want %d", g, w)
			}
			if g, w := sw.MaxRPS > 0, tt.wantMax; g != w {
				t.Errorf("max rps %v > 0 = %v, want %v", sw.MaxRPS, g, w)
			}
		})
	}
}

func TestStreams(t *testing.T) {
	opts := mock.DefaultOptions()
	opts.Chunks, opts.ChunkGap = 3, time.Millisecond
	m, err := mock.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	good := httptest.NewServer(m)
	defer good.Close()
	truncated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {}\n\n")
	}))
	defer truncated.Close()

	body := `{"model":"gpt-3.5-turbo","stream":true,"stream_options":{"include_usage":true}}`
	tests := []struct {
		name       string
		url        string
		wantErrors bool
		// role + content + finish + usage chunks per stream
		wantChunksPerStream int64
	}{
		{"mock", good.URL + "/v1/chat/completions", false, int64(opts.Chunks) + 3},
		{"no [DONE]", truncated.URL, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := target(tt.url)
			tg.Body = []byte(body)
			res, err := Streams(context.Background(), NewClient(5*time.Second), tg, 100, 100*time.Millisecond)
			if err != nil {
				t.Fatalf("Streams: %v", err)
			}
			if res.Requests == 0 {
				t.Fatal("no streams opened")
			}
			if g := res.Errors > 0; g != tt.wantErrors {
				t.Fatalf("errors = %d (%s), want errors %v", res.Errors, res.Sample, tt.wantErrors)
			}
			if tt.wantErrors {
				if !strings.Contains(res.Sample, "[DONE]") {
					t.Errorf("sample = %q, want it to name [DONE]", res.Sample)
				}
				return
			}
			if g, w := res.Chunks, res.OK*tt.wantChunksPerStream; g != w {
				t.Errorf("chunks = %d, want %d", g, w)
			}
			if g, w := res.TTFT.Count, res.OK; g != w {
				t.Errorf("ttft count = %d, want %d", g, w)
			}
		})
	}
}

func TestHistSummary(t *testing.T) {
	h := NewHist()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	h.Record(time.Hour) // clamped, still counted
	s := h.Summary()
	if g, w := s.Count, int64(1001); g != w {
		t.Errorf("count = %d, want %d", g, w)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", s.P50, 500_000}, {"p99", s.P99, 990_000}} {
		if c.got < c.want*0.99 || c.got > c.want*1.01 {
			t.Errorf("%s = %v µs, want %v ±1%%", c.name, c.got, c.want)
		}
	}
	if g := NewHist().Summary(); g != (Summary{}) {
		t.Errorf("empty summary = %+v, want zeros", g)
	}
}

func TestCombine(t *testing.T) {
	a, b := newResult(), newResult()
	a.add(200, time.Millisecond, "")
	a.finish(time.Second)
	b.add(500, 2*time.Millisecond, "500 Internal Server Error")
	b.add(200, time.Millisecond, "")
	b.finish(time.Second)
	c := Combine(a, nil, b)
	if c.Requests != 3 || c.OK != 2 || c.Errors != 1 || c.Codes[500] != 1 {
		t.Errorf("combined = %+v, want 3 requests, 2 ok, 1 error", c)
	}
	if g, w := c.RPS, 1.0; g != w {
		t.Errorf("rps = %v, want %v", g, w)
	}
}

func TestCombineSweeps(t *testing.T) {
	level := func(ok, errs int64, lat time.Duration) *Result {
		r := newResult()
		for range ok {
			r.add(200, lat, "")
		}
		for range errs {
			r.add(500, lat, "500")
		}
		r.finish(time.Second)
		return r
	}
	bound := float64(10 * time.Millisecond / time.Microsecond)
	a := &Sweep{P99Bound: bound}
	a.add(1, level(100, 0, time.Millisecond))
	a.add(4, level(300, 0, time.Millisecond))
	b := &Sweep{P99Bound: bound}
	b.add(1, level(100, 0, time.Millisecond))
	b.add(4, level(500, 1, time.Millisecond)) // an error disqualifies level 4 overall
	c := CombineSweeps(a, nil, b)
	if g, w := len(c.Levels), 2; g != w {
		t.Fatalf("levels = %d, want %d", g, w)
	}
	if g, w := c.MaxWorkers, 1; g != w {
		t.Errorf("max at %d workers, want %d", g, w)
	}
	if g, w := c.MaxRPS, 100.0; g != w {
		t.Errorf("max rps = %v, want %v", g, w)
	}
}
