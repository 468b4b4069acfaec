package controller

import (
	"context"
	"time"

	"github.com/gin-gonic/gin"
)

// dbProbeTimeout bounds GET /api/metrics/db: the probe checks out several
// pooled connections and must not hold them against relay traffic for long.
const dbProbeTimeout = 5 * time.Second

// DBMetrics answers GET /api/metrics/db (admin): the database settings as the
// gateway's own pooled connections see them, the pool statistics and, for
// SQLite, the sizes of the database, -wal and -shm files (model.DBReport).
func (a *API) DBMetrics(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), dbProbeTimeout)
	defer cancel()
	r, err := a.Store.DBSettings(ctx)
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, r)
}
