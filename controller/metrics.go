package controller

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/metrics"
)

// errMetricsDisabled answers the metrics endpoints when METRICS_ENABLED=false.
var errMetricsDisabled = Errorf("metrics are disabled (METRICS_ENABLED=false)")

// Metrics serves GET /api/metrics/, POST /api/metrics/reset and the
// Prometheus exposition at GET /metrics. Authorization is the router's job.
type Metrics struct {
	m        *metrics.Metrics
	prom     http.Handler
	settings []Setting
}

// Setting is one configuration value in force, as --check-config prints it.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// perfPrefixes are the configuration sections the performance patch set
// tunes: the console's performance page shows them beside the figures.
var perfPrefixes = []string{"HTTP.", "Cache.", "BatchUpdate.", "LogBatch.", "Metrics.", "SQLite.", "SQLMax", "NodeType"}

// WithSettings adds cfg's performance settings to GET /api/metrics/history
// (secrets masked as --check-config masks them).
func (h *Metrics) WithSettings(cfg *common.Config) *Metrics {
	var buf bytes.Buffer
	common.PrintConfig(&buf, cfg)
	for _, line := range strings.Split(buf.String(), "\n") {
		k, v, ok := strings.Cut(line, " = ")
		if !ok {
			continue
		}
		for _, p := range perfPrefixes {
			if strings.HasPrefix(k, p) {
				h.settings = append(h.settings, Setting{Key: k, Value: v})
				break
			}
		}
	}
	return h
}

// NewMetrics returns the handlers for m; a nil m (metrics disabled) is
// valid: every endpoint then says so.
func NewMetrics(m *metrics.Metrics) *Metrics {
	h := &Metrics{m: m}
	if m != nil && m.Prom != nil {
		h.prom = m.Prom.Handler()
	}
	return h
}

// Get answers the current window's statistics (metrics.Snapshot).
func (h *Metrics) Get(c *gin.Context) {
	if h.m == nil {
		fail(c, errMetricsDisabled)
		return
	}
	respond(c, h.m.Window.Snapshot())
}

// historyData is GET /api/metrics/history's data.
type historyData struct {
	Interval string             `json:"interval"`
	Points   []metrics.Snapshot `json:"points"`
	Settings []Setting          `json:"settings"`
}

// History answers the last hour of per-interval readings, oldest first:
// each point has the /api/metrics/ shape, window_start being the start of
// its interval (docs/metrics.md); settings are the performance settings in
// force (WithSettings).
func (h *Metrics) History(c *gin.Context) {
	if h.m == nil {
		fail(c, errMetricsDisabled)
		return
	}
	pts := h.m.History.Points()
	if pts == nil {
		pts = []metrics.Snapshot{}
	}
	respond(c, historyData{Interval: h.m.History.Interval().String(), Points: pts, Settings: h.settings})
}

// Reset starts a new window.
func (h *Metrics) Reset(c *gin.Context) {
	if h.m == nil {
		fail(c, errMetricsDisabled)
		return
	}
	h.m.Window.Reset()
	respond(c, nil)
}

// Prometheus serves the registry in the text exposition format. Scrapers
// read status codes, not envelopes, so disabled metrics answer 404.
func (h *Metrics) Prometheus(c *gin.Context) {
	if h.prom == nil {
		c.String(http.StatusNotFound, errMetricsDisabled.Error()+"\n")
		return
	}
	h.prom.ServeHTTP(c.Writer, c.Request)
}
