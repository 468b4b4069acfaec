package controller

import "github.com/gin-gonic/gin"

// DeleteDisabledChannels is DELETE /api/channel/disabled (admin): every
// channel disabled by hand or automatically goes, with its abilities, and
// the routing table is rebuilt; data is how many channels were deleted, as
// in one-api.
func (a *API) DeleteDisabledChannels(c *gin.Context) {
	n, err := a.Store.DeleteDisabledChannels(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	if n > 0 {
		a.channelsChanged(c.Request.Context())
	}
	respond(c, n)
}
