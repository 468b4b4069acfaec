package controller

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/model"
	"one-api/relay"
)

// ChannelProbe serves GET /api/channel/test/:id (admin): it sends the
// channel a one-token chat request through the relay's upstream client and
// records how long the answer took in response_time (ms) and when in
// test_time. Set API.ChannelTest to its Test method.
type ChannelProbe struct {
	Store *model.Store
	Relay *relay.Relay
}

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
	id, err := idParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	row, err := p.Store.GetChannel(ctx, id)
	if err != nil {
		fail(c, err)
		return
	}
	name := c.Query("model")
	elapsed, probeErr := p.Relay.Probe(ctx, row, name)
	ms := elapsed.Milliseconds()
	// one-api records the time of failed tests too; test_time says when.
	err = p.Store.DB.WithContext(context.WithoutCancel(ctx)).Model(&model.Channel{}).Where("id = ?", id).
		Updates(map[string]any{"test_time": time.Now().Unix(), "response_time": ms}).Error
	if err != nil {
		fail(c, err)
		return
	}
	res := probeResult{Success: probeErr == nil, Time: float64(ms) / 1000, Model: name}
	if probeErr != nil {
		res.Message = probeErr.Error()
	}
	c.JSON(http.StatusOK, res)
}
