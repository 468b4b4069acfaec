package controller

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/model"
	"one-api/relay"
)

// probeConcurrency bounds how many channels a test of all channels, or a
// balance update of all channels, calls at once.
const probeConcurrency = 4

// ChannelProbe serves the channel routes that call upstreams or read the
// relay: GET /api/channel/test/:id and /api/channel/test, GET
// /api/channel/models, GET /api/channel/update_balance[/:id]. Build it with
// NewChannelProbe and Close it at shutdown (a test of all channels runs in
// the background, as in one-api).
type ChannelProbe struct {
	Store *model.Store
	Relay *relay.Relay

	ctx     context.Context // background runs; cancelled by Close
	cancel  context.CancelFunc
	running atomic.Bool
	wg      sync.WaitGroup
}

// NewChannelProbe returns a probe over store and r.
func NewChannelProbe(store *model.Store, r *relay.Relay) *ChannelProbe {
	ctx, cancel := context.WithCancel(context.Background())
	return &ChannelProbe{Store: store, Relay: r, ctx: ctx, cancel: cancel}
}

// Close stops a background test of all channels and waits for it.
func (p *ChannelProbe) Close(ctx context.Context) error {
	p.cancel()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wait blocks until no background test of all channels runs.
func (p *ChannelProbe) Wait() { p.wg.Wait() }

// probeResult is one-api's answer to a channel test: not the usual
// envelope, but success, message and the time in seconds.
type probeResult struct {
	Success bool    `json:"success"`
	Message string  `json:"message"`
	Time    float64 `json:"time"`
	Model   string  `json:"model,omitempty"`
}

// Test tests the channel :id with ?model= or its first model.
func (p *ChannelProbe) Test(c *gin.Context) {
	row, ok := p.channelParam(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	name := c.Query("model")
	ms, probeErr := p.probe(ctx, row, name)
	if errors.Is(probeErr, errNotRecorded) {
		fail(c, probeErr)
		return
	}
	res := probeResult{Success: probeErr == nil, Time: float64(ms) / 1000, Model: name}
	if probeErr != nil {
		res.Message = probeErr.Error()
	}
	c.JSON(http.StatusOK, res)
}

var errNotRecorded = errors.New("the test result could not be stored")

// probe tests one channel and records when and how long it took; one-api
// records failed tests too, and test_time says when.
func (p *ChannelProbe) probe(ctx context.Context, row *model.Channel, name string) (int64, error) {
	elapsed, probeErr := p.Relay.Probe(ctx, row, name)
	ms := elapsed.Milliseconds()
	if err := p.Store.RecordChannelTest(context.WithoutCancel(ctx), row.ID, time.Now().Unix(), ms); err != nil {
		common.Error("channel #%d: %v", row.ID, err)
		return ms, errors.Join(errNotRecorded, err)
	}
	return ms, probeErr
}

// TestAll is GET /api/channel/test (admin): every enabled channel is tested
// in the background, probeConcurrency at a time, each result stored in its
// response_time and test_time; the answer comes at once, as in one-api. A
// second call while a run is going is refused.
func (p *ChannelProbe) TestAll(c *gin.Context) {
	chs, err := p.Store.EnabledChannels(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	if !p.running.CompareAndSwap(false, true) {
		fail(c, Errorf("a test of all channels is already running"))
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.running.Store(false)
		failed := forEachBounded(p.ctx, chs, func(ctx context.Context, ch *model.Channel) error {
			_, err := p.probe(ctx, ch, "")
			return err
		})
		common.SysLog("channel test: %d enabled channels tested, %d failed", len(chs), failed)
	}()
	c.JSON(http.StatusOK, Envelope{Success: true, Message: "testing " + strconv.Itoa(len(chs)) + " enabled channels in the background; refresh to see the results"})
}

// forEachBounded runs fn on every channel, probeConcurrency at a time, and
// returns how many failed. It stops starting new calls once ctx is done.
func forEachBounded(ctx context.Context, chs []model.Channel, fn func(context.Context, *model.Channel) error) int {
	var failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, probeConcurrency)
	for i := range chs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return int(failed.Load()) + len(chs) - i
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, &chs[i]); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(failed.Load())
}

// Models is GET /api/channel/models (admin): every model the gateway knows
// with its owner, in one-api's shape ({"object":"list","data":[…]}, OpenAI's
// model objects), plus the envelope's success and message.
func (p *ChannelProbe) Models(c *gin.Context) {
	c.JSON(http.StatusOK, modelList{Success: true, Object: "list", Data: p.Relay.KnownModels()})
}

type modelList struct {
	Success bool          `json:"success"`
	Message string        `json:"message"`
	Object  string        `json:"object"`
	Data    []relay.Model `json:"data"`
}

// balanceResult is one-api's answer to a balance update: the envelope with
// the balance beside data.
type balanceResult struct {
	Success bool    `json:"success"`
	Message string  `json:"message"`
	Balance float64 `json:"balance"`
}

// UpdateBalance is GET /api/channel/update_balance/:id (admin): the
// channel's upstream balance, read from its balance API and stored in
// balance and balance_updated_time. A channel type without a known balance
// API is told so.
func (p *ChannelProbe) UpdateBalance(c *gin.Context) {
	row, ok := p.channelParam(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	balance, err := p.updateBalance(ctx, row)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, balanceResult{Success: true, Balance: balance})
}

func (p *ChannelProbe) updateBalance(ctx context.Context, row *model.Channel) (float64, error) {
	balance, err := p.Relay.Balance(ctx, row)
	if err != nil {
		// The upstream's failure is the admin's to read; it never quotes
		// the key.
		return 0, Errorf("channel #" + strconv.Itoa(row.ID) + ": " + err.Error())
	}
	if err := p.Store.SetChannelBalance(ctx, row.ID, balance, time.Now().Unix()); err != nil {
		return 0, err
	}
	return balance, nil
}

// UpdateAllBalances is GET /api/channel/update_balance (admin): the balance
// of every enabled channel with a known balance API, probeConcurrency at a
// time. Channels are not disabled for a low balance (one-api disabled
// OpenAI and Custom channels at 0 or below).
func (p *ChannelProbe) UpdateAllBalances(c *gin.Context) {
	ctx := c.Request.Context()
	chs, err := p.Store.EnabledChannels(ctx)
	if err != nil {
		fail(c, err)
		return
	}
	supported := chs[:0]
	for _, ch := range chs {
		if relay.HasBalanceAPI(ch.Type) {
			supported = append(supported, ch)
		}
	}
	failed := forEachBounded(ctx, supported, func(ctx context.Context, ch *model.Channel) error {
		_, err := p.updateBalance(ctx, ch)
		return err
	})
	msg := ""
	if failed > 0 {
		msg = strconv.Itoa(failed) + " of " + strconv.Itoa(len(supported)) + " balances could not be read"
	}
	c.JSON(http.StatusOK, Envelope{Success: true, Message: msg})
}

// channelParam is the channel named by :id; on failure it has answered the
// request.
func (p *ChannelProbe) channelParam(c *gin.Context) (*model.Channel, bool) {
	id, err := idParam(c)
	if err != nil {
		fail(c, err)
		return nil, false
	}
	row, err := p.Store.GetChannel(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return nil, false
	}
	return row, true
}
