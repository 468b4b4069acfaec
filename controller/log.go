package controller

import (
	"github.com/gin-gonic/gin"

	"one-api/model"
)

// logFilter reads the log filters of the query string. Only admins may
// filter by username and channel; a user's own view is pinned to them.
func logFilter(c *gin.Context, admin bool) (model.LogFilter, error) {
	var f model.LogFilter
	typ, err1 := queryInt64(c, "type")
	start, err2 := queryInt64(c, "start_timestamp")
	end, err3 := queryInt64(c, "end_timestamp")
	if err := joinErrors(err1, err2, err3); err != nil {
		return f, err
	}
	f.Type, f.Start, f.End = int(typ), start, end
	f.TokenName = c.Query("token_name")
	f.ModelName = c.Query("model_name")
	if !admin {
		f.UserID, _ = caller(c)
		return f, nil
	}
	f.Username = c.Query("username")
	channel, err := queryInt64(c, "channel")
	f.ChannelID = int(channel)
	return f, err
}

// ListLogs is GET /api/log/ (admin): every user's logs, filtered by type,
// username, token_name, model_name, channel, start_timestamp and
// end_timestamp, newest first.
func (a *API) ListLogs(c *gin.Context) { a.listLogs(c, true) }

// ListSelfLogs is GET /api/log/self: the caller's logs.
func (a *API) ListSelfLogs(c *gin.Context) { a.listLogs(c, false) }

func (a *API) listLogs(c *gin.Context, admin bool) {
	f, err := logFilter(c, admin)
	if err != nil {
		fail(c, err)
		return
	}
	logs, err := a.Store.ListLogs(c.Request.Context(), f, page(c))
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, logs)
}

// logStat is the data of the log statistics routes.
type logStat struct {
	Quota int64 `json:"quota"`
}

// LogStat is GET /api/log/stat (admin): the quota used by the matching
// logs. Without a type filter it counts consume logs, as one-api does.
func (a *API) LogStat(c *gin.Context) { a.logStat(c, true) }

// SelfLogStat is GET /api/log/self/stat: LogStat over the caller's logs.
func (a *API) SelfLogStat(c *gin.Context) { a.logStat(c, false) }

func (a *API) logStat(c *gin.Context, admin bool) {
	f, err := logFilter(c, admin)
	if err != nil {
		fail(c, err)
		return
	}
	if f.Type == 0 {
		f.Type = model.LogConsume
	}
	sum, err := a.Store.SumLogQuota(c.Request.Context(), f)
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, logStat{Quota: sum})
}

// DeleteLogs is DELETE /api/log/?target_timestamp= (admin): deletes the
// logs created before the timestamp; data is how many.
func (a *API) DeleteLogs(c *gin.Context) {
	ts, err := queryInt64(c, "target_timestamp")
	if err != nil {
		fail(c, err)
		return
	}
	if ts <= 0 {
		fail(c, Errorf("target_timestamp is required: delete logs created before this unix time"))
		return
	}
	n, err := a.Store.DeleteLogsBefore(c.Request.Context(), ts)
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, n)
}
