package router

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"one-api/controller"
)

// RegisterMetrics registers the metrics endpoints (docs/metrics.md):
//
//   - GET /api/metrics/ (and /api/metrics), GET /api/metrics/history and
//     POST /api/metrics/reset on
//     admin, the /api group that already runs sessions, rate limiting and
//     admin authentication (APIGroups.Admin), so the admin UI's session
//     works as well as an access token;
//   - GET /metrics on e, behind adminAuth (the access token; Prometheus has
//     no session) unless public (METRICS_PUBLIC=true).
//
// GET /api/metrics/db (the database's effective PRAGMAs) belongs to the
// store's owner and is registered with the rest of the admin API.
func RegisterMetrics(e *gin.Engine, admin *gin.RouterGroup, h *controller.Metrics, adminAuth gin.HandlerFunc, public bool) {
	Handle(admin, http.MethodGet, "/metrics/", h.Get)
	Handle(admin, http.MethodPost, "/metrics/reset", h.Reset)
	Handle(admin, http.MethodGet, "/metrics/history", h.History)

	scrape := []gin.HandlerFunc{h.Prometheus}
	if !public {
		if adminAuth == nil {
			panic("router: GET /metrics needs adminAuth unless METRICS_PUBLIC=true")
		}
		scrape = []gin.HandlerFunc{adminAuth, h.Prometheus}
	}
	e.GET("/metrics", scrape...)
}
