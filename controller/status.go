package controller

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/common"
)

// pingTimeout bounds the readiness check so a stuck database answers 503
// instead of hanging the probe.
const pingTimeout = 3 * time.Second

// statusData is GET /api/status's data.
type statusData struct {
	Version      string  `json:"version"`
	StartTime    int64   `json:"start_time"`
	NodeType     string  `json:"node_type"`
	Database     string  `json:"database"`
	Redis        string  `json:"redis"` // "ok", "down: <error>" or "off"
	QuotaPerUnit float64 `json:"quota_per_unit"`
}

// Status is GET /api/status: public facts about this node, and readiness:
// HTTP 503 with success=false while the database does not answer. Redis
// being down is reported but keeps the node ready: quota checks then fall
// back to the node's own balances, and invalidations to the cache TTL.
func (a *API) Status(c *gin.Context) {
	data := statusData{
		Version: a.Version, StartTime: a.StartTime, NodeType: a.NodeType,
		Database: a.Store.Dialect, Redis: "off", QuotaPerUnit: a.Options.Get().QuotaPerUnit,
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), pingTimeout)
	defer cancel()
	if a.RedisStatus != nil {
		data.Redis = a.RedisStatus(ctx)
	}
	if err := a.Store.Ping(ctx); err != nil {
		common.Warn("readiness: database ping failed: %v", err)
		c.JSON(http.StatusServiceUnavailable, Envelope{Message: "database unavailable", Data: data})
		return
	}
	respond(c, data)
}
