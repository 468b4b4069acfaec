package metrics

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Snapshot is one reading of the window, in Go types; its JSON form is the
// data of GET /api/metrics/ (docs/metrics.md lists every key).
//
// Conventions: durations are Go duration strings rounded to three
// significant figures, the histograms' precision ("145ms", "1.23s",
// "850µs", "0s" when there is nothing to measure); rates are percentages
// with two decimals. An empty window has a success rate of 100.00 (nothing
// failed) and a cache hit rate of 0.00 (nothing hit).
type Snapshot struct {
	// Relay requests in the window.
	TotalRequests     int64
	FailedRequests    int64 // 5xx or relay errors
	ClientErrors      int64 // 4xx that were not relay errors; not failures
	SuccessRate       float64
	AverageDuration   time.Duration
	P50Latency        time.Duration
	P95Latency        time.Duration
	P99Latency        time.Duration
	StreamingRequests int64
	AvgTTFT           time.Duration
	OverheadP50       time.Duration // Duration - Upstream
	OverheadP99       time.Duration

	// Database statements in the window (every request, not only relay).
	DBQueryCount  int64
	DBAvgDuration time.Duration

	WindowStart time.Time
	Uptime      time.Duration // since the collector was created
	InFlight    int64         // requests between Begin and End now

	// From Sources: the queue depth now, cache lookups in the window.
	LogQueueDepth int
	CacheHits     uint64
	CacheMisses   uint64
	CacheHitRate  float64
}

// snapshotJSON is the wire form; the first eleven keys are the spec's.
type snapshotJSON struct {
	TotalRequests     int64    `json:"total_requests"`
	FailedRequests    int64    `json:"failed_requests"`
	SuccessRate       percentJ `json:"success_rate"`
	AverageDuration   string   `json:"average_duration"`
	P50Latency        string   `json:"p50_latency"`
	P95Latency        string   `json:"p95_latency"`
	P99Latency        string   `json:"p99_latency"`
	DBQueryCount      int64    `json:"db_query_count"`
	DBAvgDuration     string   `json:"db_avg_duration"`
	StreamingRequests int64    `json:"streaming_requests"`
	AvgTTFT           string   `json:"avg_ttft"`

	ClientErrors  int64    `json:"client_errors"`
	OverheadP50   string   `json:"overhead_p50"`
	OverheadP99   string   `json:"overhead_p99"`
	WindowStart   string   `json:"window_start"`
	Uptime        string   `json:"uptime"`
	InFlight      int64    `json:"in_flight"`
	LogQueueDepth int      `json:"log_queue_depth"`
	CacheHits     uint64   `json:"cache_hits"`
	CacheMisses   uint64   `json:"cache_misses"`
	CacheHitRate  percentJ `json:"cache_hit_rate"`
}

// MarshalJSON writes the /api/metrics/ shape.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	return json.Marshal(snapshotJSON{
		TotalRequests:     s.TotalRequests,
		FailedRequests:    s.FailedRequests,
		SuccessRate:       percentJ(s.SuccessRate),
		AverageDuration:   formatDuration(s.AverageDuration),
		P50Latency:        formatDuration(s.P50Latency),
		P95Latency:        formatDuration(s.P95Latency),
		P99Latency:        formatDuration(s.P99Latency),
		DBQueryCount:      s.DBQueryCount,
		DBAvgDuration:     formatDuration(s.DBAvgDuration),
		StreamingRequests: s.StreamingRequests,
		AvgTTFT:           formatDuration(s.AvgTTFT),
		ClientErrors:      s.ClientErrors,
		OverheadP50:       formatDuration(s.OverheadP50),
		OverheadP99:       formatDuration(s.OverheadP99),
		WindowStart:       s.WindowStart.Format(time.RFC3339),
		Uptime:            s.Uptime.Round(time.Second).String(),
		InFlight:          s.InFlight,
		LogQueueDepth:     s.LogQueueDepth,
		CacheHits:         s.CacheHits,
		CacheMisses:       s.CacheMisses,
		CacheHitRate:      percentJ(s.CacheHitRate),
	})
}

// percentJ prints with exactly two decimals ("95.00", not "95") so the JSON
// reads like the spec's "99.81".
type percentJ float64

func (p percentJ) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(p), 'f', 2, 64), nil
}

// percent is part/whole as a percentage rounded to two decimals, or empty
// when whole is 0.
func percent(part, whole int64, empty float64) float64 {
	if whole <= 0 {
		return empty
	}
	return math.Round(float64(part)*10000/float64(whole)) / 100
}

// formatDuration rounds d to three significant figures: more digits than the
// histograms hold would only be noise.
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	unit := time.Duration(1)
	for d/unit >= 1000 {
		unit *= 10
	}
	return d.Round(unit).String()
}
