package controller

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"one-api/model"
)

// Limits of redemption codes, as one-api's.
const (
	maxRedemptionName  = 20
	maxRedemptionBatch = 100
)

// ListRedemptions is GET /api/redemption/ (admin): a page of codes, newest
// first. Codes are bearer credentials for quota, so only admins see them.
func (a *API) ListRedemptions(c *gin.Context) {
	rs, err := a.Store.ListRedemptions(c.Request.Context(), page(c))
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, rs)
}

// SearchRedemptions is GET /api/redemption/search?keyword= (admin): codes
// whose id is keyword or whose name starts with it.
func (a *API) SearchRedemptions(c *gin.Context) {
	kw, err := keyword(c)
	if err != nil {
		fail(c, err)
		return
	}
	rs, err := a.Store.SearchRedemptions(c.Request.Context(), kw, page(c))
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, rs)
}

// GetRedemption is GET /api/redemption/:id (admin).
func (a *API) GetRedemption(c *gin.Context) {
	id, err := idParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	r, err := a.Store.GetRedemption(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, r)
}

// redemptionRequest is the body of POST and PUT /api/redemption/. Besides
// the editable fields it names the read-only ones one-api's console sends
// back with an edit (they are ignored).
type redemptionRequest struct {
	ID     int     `json:"id"`
	Name   *string `json:"name"`
	Quota  *int64  `json:"quota"`
	Status *int    `json:"status"`
	Count  *int    `json:"count"`

	UserID       any `json:"user_id"`
	Key          any `json:"key"`
	CreatedTime  any `json:"created_time"`
	RedeemedTime any `json:"redeemed_time"`
}

func checkRedemptionName(name string) error {
	if n := utf8.RuneCountInString(name); n == 0 || n > maxRedemptionName {
		return Errorf(fmt.Sprintf("name must be 1 to %d characters", maxRedemptionName))
	}
	return nil
}

func checkRedemptionQuota(q int64) error {
	if q <= 0 {
		return Errorf("quota must be greater than 0")
	}
	return nil
}

// CreateRedemptions is POST /api/redemption/ (admin) {"name","quota",
// "count"}: count codes (1 to 100, default 1) created at once, all or none;
// data is their keys, as one-api answers.
func (a *API) CreateRedemptions(c *gin.Context) {
	var req redemptionRequest
	if err := bindStrict(c, &req); err != nil {
		fail(c, err)
		return
	}
	count := 1
	if req.Count != nil {
		count = *req.Count
	}
	var errs []error
	if req.Name == nil {
		errs = append(errs, Errorf("name is required"))
	} else {
		errs = append(errs, checkRedemptionName(*req.Name))
	}
	if req.Quota == nil {
		errs = append(errs, Errorf("quota is required"))
	} else {
		errs = append(errs, checkRedemptionQuota(*req.Quota))
	}
	if count < 1 || count > maxRedemptionBatch {
		errs = append(errs, Errorf(fmt.Sprintf("count must be 1 to %d", maxRedemptionBatch)))
	}
	if err := joinErrors(errs...); err != nil {
		fail(c, err)
		return
	}
	creator, _ := caller(c)
	now := time.Now().Unix()
	rs := make([]model.Redemption, count)
	keys := make([]string, count)
	for i := range rs {
		keys[i] = newRedemptionKey()
		rs[i] = model.Redemption{UserID: creator, Key: keys[i], Status: model.RedemptionEnabled,
			Name: *req.Name, Quota: *req.Quota, CreatedTime: now}
	}
	if err := a.Store.CreateRedemptions(c.Request.Context(), rs); err != nil {
		fail(c, err)
		return
	}
	respond(c, keys)
}

// newRedemptionKey is 32 hex characters (redemptions.key is char(32)), 128
// random bits, like one-api's dashless UUIDs.
func newRedemptionKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// UpdateRedemption is PUT /api/redemption/ (admin): name and quota change
// when given; with ?status_only=true only status does. Status is 1
// (enabled) or 2 (disabled), and a used code stays used: re-enabling it
// would let it be spent twice.
func (a *API) UpdateRedemption(c *gin.Context) {
	var req redemptionRequest
	if err := bindStrict(c, &req); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	cur, err := a.Store.GetRedemption(ctx, req.ID)
	if err != nil {
		fail(c, err)
		return
	}
	var cols []string
	var errs []error
	if c.Query("status_only") == "" {
		if req.Name != nil {
			cols = append(cols, "name")
			cur.Name = *req.Name
			errs = append(errs, checkRedemptionName(cur.Name))
		}
		if req.Quota != nil {
			cols = append(cols, "quota")
			cur.Quota = *req.Quota
			errs = append(errs, checkRedemptionQuota(cur.Quota))
		}
	}
	if req.Status != nil && *req.Status != cur.Status {
		switch {
		case cur.Status == model.RedemptionUsed:
			errs = append(errs, Errorf("the code has been used: its status cannot change"))
		case *req.Status != model.RedemptionEnabled && *req.Status != model.RedemptionDisabled:
			errs = append(errs, Errorf(fmt.Sprintf("invalid status %d: want 1 (enabled) or 2 (disabled)", *req.Status)))
		}
		cols = append(cols, "status")
		cur.Status = *req.Status
	}
	if err := joinErrors(errs...); err != nil {
		fail(c, err)
		return
	}
	r, err := a.Store.UpdateRedemption(ctx, cur, cols)
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, r)
}

// DeleteRedemption is DELETE /api/redemption/:id (admin).
func (a *API) DeleteRedemption(c *gin.Context) {
	id, err := idParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	if err := a.Store.DeleteRedemption(c.Request.Context(), id); err != nil {
		fail(c, err)
		return
	}
	respond(c, nil)
}
