package controller

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/model"
	"one-api/tokenlimit"
)

const (
	tokenKeyLength = 48 // tokens.key is char(48), stored without "sk-"
	maxTokenName   = 30 // one-api's limit
)

// Tokens are always the caller's own: every query is scoped to the caller's
// user id, so a token's key is only ever shown to its owner.

// ListTokens is GET /api/token/: a page of the caller's tokens.
func (a *API) ListTokens(c *gin.Context) {
	id, _ := caller(c)
	tokens, err := a.Store.ListTokens(c.Request.Context(), id, page(c))
	if err != nil {
		fail(c, err)
		return
	}
	for i := range tokens {
		a.withPendingToken(&tokens[i])
	}
	respond(c, tokens)
}

// GetToken is GET /api/token/:id.
func (a *API) GetToken(c *gin.Context) {
	id, err := idParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	userID, _ := caller(c)
	t, err := a.Store.GetToken(c.Request.Context(), id, userID)
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, a.withPendingToken(t))
}

// tokenRequest is the body of POST and PUT /api/token/; absent fields are
// nil. Models and subnet are comma-separated lists.
type tokenRequest struct {
	ID             int     `json:"id"`
	Name           *string `json:"name"`
	Status         *int    `json:"status"`
	RemainQuota    *int64  `json:"remain_quota"`
	UnlimitedQuota *bool   `json:"unlimited_quota"`
	ExpiredTime    *int64  `json:"expired_time"`
	Models         *string `json:"models"`
	Subnet         *string `json:"subnet"`
	// RPMLimit is requests per minute (beyond one-api); 0 removes the limit.
	RPMLimit *int `json:"rpm_limit"`
}

// apply copies the given fields but status onto t, validates them and
// returns the columns they fill.
func (r *tokenRequest) apply(t *model.Token, now int64) ([]string, error) {
	var cols []string
	var errs []error
	if r.Name != nil {
		cols = append(cols, "name")
		t.Name = *r.Name
		if utf8.RuneCountInString(t.Name) > maxTokenName {
			errs = append(errs, Errorf(fmt.Sprintf("token name must be at most %d characters", maxTokenName)))
		}
	}
	if r.RemainQuota != nil {
		cols = append(cols, "remain_quota")
		t.RemainQuota = *r.RemainQuota
		if t.RemainQuota < 0 {
			errs = append(errs, Errorf("remain_quota must not be negative"))
		}
	}
	if r.UnlimitedQuota != nil {
		cols = append(cols, "unlimited_quota")
		t.UnlimitedQuota = *r.UnlimitedQuota
	}
	if r.ExpiredTime != nil && *r.ExpiredTime != t.ExpiredTime {
		cols = append(cols, "expired_time")
		// 0 is what a client that never thought about expiry sends.
		t.ExpiredTime = *r.ExpiredTime
		if t.ExpiredTime == 0 {
			t.ExpiredTime = -1
		}
		if t.ExpiredTime != -1 && t.ExpiredTime <= now {
			errs = append(errs, Errorf("expired_time must be in the future, or -1 for never"))
		}
	}
	if r.Models != nil {
		cols = append(cols, "models")
		m := strings.Join(model.SplitList(*r.Models), ",")
		t.Models = &m
	}
	if r.Subnet != nil {
		cols = append(cols, "subnet")
		s := strings.Join(model.SplitList(*r.Subnet), ",")
		errs = append(errs, checkSubnets(s))
		t.Subnet = &s
	}
	if r.RPMLimit != nil {
		cols = append(cols, "rpm_limit")
		t.RPMLimit = r.RPMLimit
		if *r.RPMLimit < 0 || *r.RPMLimit > tokenlimit.MaxLimit {
			errs = append(errs, Errorf(fmt.Sprintf("rpm_limit must be between 0 (no limit) and %d requests per minute", tokenlimit.MaxLimit)))
		}
	}
	return cols, joinErrors(errs...)
}

// checkSubnets accepts CIDRs and bare addresses; anything else would make
// the token unusable from everywhere.
func checkSubnets(list string) error {
	for _, item := range model.SplitList(list) {
		if _, err := netip.ParsePrefix(item); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(item); err == nil {
			continue
		}
		return Errorf("invalid subnet " + item + ": want a CIDR such as 10.0.0.0/8 or an IP address")
	}
	return nil
}

// CreateToken is POST /api/token/: a new token for the caller with a fresh
// 48-character key, returned in data (key included). A missing or 0
// expired_time means never.
func (a *API) CreateToken(c *gin.Context) {
	var req tokenRequest
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	userID, _ := caller(c)
	now := time.Now().Unix()
	t := &model.Token{
		UserID: userID, Key: common.RandomString(tokenKeyLength), Status: model.TokenEnabled,
		CreatedTime: now, AccessedTime: now, ExpiredTime: -1,
	}
	if _, err := req.apply(t, now); err != nil {
		fail(c, err)
		return
	}
	if err := a.Store.CreateToken(c.Request.Context(), t); err != nil {
		fail(c, err)
		return
	}
	respond(c, t)
}

// UpdateToken is PUT /api/token/: the given fields change, and only those
// (a column written back from the read would undo the charges made since).
// With ?status_only=true only status does. An expired or exhausted token is
// only re-enabled once its expiry or quota allows it, as in one-api.
func (a *API) UpdateToken(c *gin.Context) {
	var req tokenRequest
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	userID, _ := caller(c)
	ctx := c.Request.Context()
	t, err := a.Store.GetToken(ctx, req.ID, userID)
	if err != nil {
		fail(c, err)
		return
	}
	// The status checks below judge the balance the ledger holds.
	a.withPendingToken(t)
	now := time.Now().Unix()
	var cols []string
	if c.Query("status_only") == "" {
		if cols, err = req.apply(t, now); err != nil {
			fail(c, err)
			return
		}
	}
	if req.Status != nil {
		if err := checkTokenStatus(t, *req.Status, now); err != nil {
			fail(c, err)
			return
		}
		t.Status = *req.Status
		cols = append(cols, "status")
	}
	if slices.Contains(cols, "remain_quota") {
		// An absolute balance: ordered after the charges made before it.
		err = a.quota().Apply(ctx, func(tx model.Tx) error { return tx.UpdateToken(t, cols) })
	} else {
		err = a.Store.UpdateToken(ctx, t, cols)
	}
	if err != nil {
		fail(c, err)
		return
	}
	a.tokenChanged(t.Key)
	if t, err = a.Store.GetToken(ctx, t.ID, userID); err != nil {
		fail(c, err)
		return
	}
	respond(c, a.withPendingToken(t))
}

// checkTokenStatus vets a status change of t (its other fields already
// updated) to status.
func checkTokenStatus(t *model.Token, status int, now int64) error {
	// Expired and exhausted are the relay's to set.
	switch status {
	case model.TokenEnabled, model.TokenDisabled:
	default:
		return Errorf(fmt.Sprintf("invalid status %d: want 1 (enabled) or 2 (disabled)", status))
	}
	if status != model.TokenEnabled || t.Status == model.TokenEnabled {
		return nil
	}
	if t.ExpiredTime != -1 && t.ExpiredTime <= now {
		return Errorf("the token has expired: set a later expired_time (or -1) before enabling it")
	}
	if !t.UnlimitedQuota && t.RemainQuota <= 0 {
		return Errorf("the token's quota is used up: raise remain_quota or make it unlimited before enabling it")
	}
	return nil
}

// DeleteToken is DELETE /api/token/:id.
func (a *API) DeleteToken(c *gin.Context) {
	id, err := idParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	userID, _ := caller(c)
	key, err := a.Store.DeleteToken(c.Request.Context(), id, userID)
	if err != nil {
		fail(c, err)
		return
	}
	a.quota().ForgetToken(id)
	a.tokenChanged(key)
	respond(c, nil)
}
