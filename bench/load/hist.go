// Package load drives an HTTP endpoint and measures it: open-loop fixed-rate
// steps (vegeta, which keeps sending on schedule however slow the answers, so
// queueing shows up in the percentiles instead of being hidden by coordinated
// omission), a closed-loop concurrency sweep for the highest throughput under
// a latency bound, and an SSE client for time to first chunk and chunk gaps.
package load

import (
	"bytes"
	"net/http"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Hist is a latency histogram in microseconds, 1 µs to 2 min, three
// significant digits. It is not safe for concurrent use.
type Hist struct{ h *hdr.Histogram }

// NewHist returns an empty histogram.
func NewHist() *Hist { return &Hist{h: hdr.New(1, int64(2*time.Minute/time.Microsecond), 3)} }

// Record adds one latency; values beyond the range are clamped so that an
// outlier is counted rather than dropped.
func (h *Hist) Record(d time.Duration) {
	us := max(d.Microseconds(), 1)
	if err := h.h.RecordValue(us); err != nil {
		_ = h.h.RecordValue(h.h.HighestTrackableValue())
	}
}

// Merge adds every value of o.
func (h *Hist) Merge(o *Hist) {
	if o != nil {
		h.h.Merge(o.h)
	}
}

// Count is the number of recorded values.
func (h *Hist) Count() int64 { return h.h.TotalCount() }

// Summary is a histogram's percentiles in microseconds.
type Summary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_us"`
	P95   float64 `json:"p95_us"`
	P99   float64 `json:"p99_us"`
	Max   float64 `json:"max_us"`
	Mean  float64 `json:"mean_us"`
}

// Summary reads the percentiles; an empty histogram gives zeros.
func (h *Hist) Summary() Summary {
	if h.h.TotalCount() == 0 {
		return Summary{}
	}
	return Summary{
		Count: h.h.TotalCount(),
		P50:   float64(h.h.ValueAtQuantile(50)),
		P95:   float64(h.h.ValueAtQuantile(95)),
		P99:   float64(h.h.ValueAtQuantile(99)),
		Max:   float64(h.h.Max()),
		Mean:  h.h.Mean(),
	}
}

// Target is one request template.
type Target struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

func (t Target) request() (*http.Request, error) {
	req, err := http.NewRequest(t.Method, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return nil, err
	}
	req.Header = t.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	return req, nil
}

// NewClient is the client every mode uses: keep-alive, enough idle
// connections for the largest sweep level, and a timeout so that a stuck arm
// ends its step with errors instead of hanging the run.
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

// Result is one step: counts, status codes and latencies.
type Result struct {
	Requests int64         `json:"requests"`
	OK       int64         `json:"ok"`
	Errors   int64         `json:"errors"`
	Codes    map[int]int64 `json:"codes,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	RPS      float64       `json:"rps"` // successful requests per second
	Sample   string        `json:"error_sample,omitempty"`
	Latency  Summary       `json:"latency"`
	Hist     *Hist         `json:"-"`
}

func newResult() *Result { return &Result{Codes: map[int]int64{}, Hist: NewHist()} }

func (r *Result) add(code int, lat time.Duration, errText string) {
	r.Requests++
	r.Hist.Record(lat)
	r.Codes[code]++
	if code == http.StatusOK && errText == "" {
		r.OK++
		return
	}
	r.Errors++
	if r.Sample == "" {
		r.Sample = errText
		if r.Sample == "" {
			r.Sample = http.StatusText(code)
		}
	}
}

func (r *Result) finish(elapsed time.Duration) {
	r.Elapsed = elapsed
	if elapsed > 0 {
		r.RPS = float64(r.OK) / elapsed.Seconds()
	}
	r.Latency = r.Hist.Summary()
}
