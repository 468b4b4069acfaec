package controller

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/middleware"
	"one-api/model"
)

// Pagination, as one-api: ?p= is 0-based, 10 rows unless ?page_size= says
// otherwise, capped so one call cannot read a whole table.
const (
	defaultPageSize = 10
	maxPageSize     = 100
)

// API serves the admin API. main builds it once; nil hooks are no-ops.
type API struct {
	Store   *model.Store
	Options *model.OptionStore
	// Invalidator is told about token and user changes so caches drop them.
	Invalidator model.Invalidator
	// Quota is the quota ledger's admin side (the *ledger.Batch or
	// *ledger.Direct the relay charges through); nil = a ledger.Direct on
	// the Store.
	Quota model.QuotaAdmin
	// ChannelsChanged rebuilds the relay's routing table after a channel
	// was created, changed or deleted.
	ChannelsChanged func(ctx context.Context) error
	// Channels serves the channel routes that need the relay (tests,
	// balances, the model list); nil leaves those routes out.
	Channels *ChannelProbe

	// ConsumeLogsOff is LOG_CONSUME_ENABLED=false: no consume log is
	// written, whatever the LogConsumeEnabled option says.
	ConsumeLogsOff bool

	// BcryptCost is the cost of new password hashes; 0 = bcrypt.DefaultCost.
	BcryptCost int

	Version   string
	NodeType  string
	StartTime int64 // unix seconds

	// RedisStatus reports Redis connectivity for /api/status ("ok",
	// "down: <error>", "off"); nil = "off" (cluster.Node.Status).
	RedisStatus func(ctx context.Context) string

	dummyOnce sync.Once
	dummy     []byte
}

func (a *API) tokenChanged(key string) {
	if a.Invalidator != nil {
		a.Invalidator.TokenChanged(key)
	}
}

func (a *API) userChanged(id int) {
	if a.Invalidator != nil {
		a.Invalidator.UserChanged(id)
	}
}

// channelsChanged runs the hook. The change is already committed, so a
// failing rebuild is logged rather than reported as a failed request.
func (a *API) channelsChanged(ctx context.Context) {
	if a.ChannelsChanged == nil {
		return
	}
	if err := a.ChannelsChanged(ctx); err != nil {
		common.Error("rebuild channel routing after a channel change: %v", err)
	}
}

// caller is the authenticated user's id and role.
func caller(c *gin.Context) (id, role int) {
	return middleware.UserID(c), middleware.Role(c)
}

// bindJSON decodes the request body into v. A body over the size limit
// keeps its *http.MaxBytesError so fail answers 413.
func bindJSON(c *gin.Context, v any) error {
	if err := json.NewDecoder(c.Request.Body).Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return Errorf("invalid JSON body: " + err.Error())
	}
	return nil
}

// idParam reads the :id path parameter.
func idParam(c *gin.Context) (int, error) {
	id, err := strconv.Atoi(c.Param("id"))
	if err != nil || id <= 0 {
		return 0, Errorf("invalid id " + strconv.Quote(c.Param("id")))
	}
	return id, nil
}

// page reads ?p= and ?page_size=.
func page(c *gin.Context) model.Page {
	p, _ := strconv.Atoi(c.Query("p"))
	if p < 0 {
		p = 0
	}
	size, _ := strconv.Atoi(c.Query("page_size"))
	switch {
	case size <= 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	return model.Page{Offset: p * size, Limit: size}
}

// queryInt64 reads an optional integer query parameter (0 when absent).
func queryInt64(c *gin.Context, name string) (int64, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, Errorf("invalid " + name + " " + strconv.Quote(v) + ": want a whole number")
	}
	return n, nil
}

// joinErrors reports every invalid field at once: UserErrors become one
// UserError; nils are dropped.
func joinErrors(errs ...error) error {
	var msgs []string
	var other []error
	for _, err := range errs {
		var ue *UserError
		switch {
		case err == nil:
		case errors.As(err, &ue):
			msgs = append(msgs, ue.Msg)
		default:
			other = append(other, err)
		}
	}
	if len(other) > 0 {
		return errors.Join(other...)
	}
	if len(msgs) > 0 {
		return Errorf(strings.Join(msgs, "; "))
	}
	return nil
}
