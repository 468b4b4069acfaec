package controller

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/middleware"
	"one-api/model"
)

// The client billing endpoints answer, for an sk- key, OpenAI's retired
// dashboard billing API, which chat apps (ChatGPT-Next-Web, LobeChat, …)
// still call to show a key's balance as hard_limit_usd − total_usage/100.
// They run behind relay token auth (no model, no rate limit), and read the
// database plus the ledger's unflushed movements, so a balance shown is the
// balance the ledger holds.

// subscription is OpenAI's GET /dashboard/billing/subscription answer, in
// one-api's fields.
type subscription struct {
	Object             string  `json:"object"`
	HasPaymentMethod   bool    `json:"has_payment_method"`
	SoftLimitUSD       float64 `json:"soft_limit_usd"`
	HardLimitUSD       float64 `json:"hard_limit_usd"`
	SystemHardLimitUSD float64 `json:"system_hard_limit_usd"`
	AccessUntil        int64   `json:"access_until"`
}

// usage is OpenAI's GET /dashboard/billing/usage answer; total_usage is in
// hundredths of the unit (cents when the unit is the dollar).
type usage struct {
	Object     string  `json:"object"`
	TotalUsage float64 `json:"total_usage"`
}

// billingFigures are the quota amounts a billing answer is made from.
type billingFigures struct {
	remain, used int64
	accessUntil  int64
	toUnit       func(quota int64) float64
}

// figures reads the caller's balance: the token's, or its owner's when the
// token is unlimited (the owner's balance is what limits it) or when the
// DisplayTokenStatEnabled option is off, as in one-api.
func (a *API) figures(c *gin.Context) (billingFigures, error) {
	opts := a.Options.Get()
	auth := middleware.TokenInfoFrom(c).Auth
	ctx := c.Request.Context()
	f := billingFigures{toUnit: func(q int64) float64 { return float64(q) }}
	if optionBool(opts, "DisplayInCurrencyEnabled", true) {
		f.toUnit = func(q int64) float64 { return float64(q) / opts.QuotaPerUnit }
	}
	tokenStat := optionBool(opts, "DisplayTokenStatEnabled", true)
	if tokenStat && auth.ExpiredTime > 0 {
		f.accessUntil = auth.ExpiredTime
	}
	if tokenStat && !auth.Unlimited {
		t, err := a.Store.GetToken(ctx, auth.TokenID, auth.UserID)
		if err != nil {
			return f, err
		}
		a.withPendingToken(t)
		f.remain, f.used = t.RemainQuota, t.UsedQuota
		return f, nil
	}
	u, err := a.Store.GetUser(ctx, auth.UserID)
	if err != nil {
		return f, err
	}
	a.withPendingUser(u)
	f.remain, f.used = u.Quota, u.UsedQuota
	return f, nil
}

// BillingSubscription is GET [/v1]/dashboard/billing/subscription: the
// limit is what was spent plus what is left, so that a client subtracting
// the usage shows the balance left.
func (a *API) BillingSubscription(c *gin.Context) {
	f, err := a.figures(c)
	if err != nil {
		billingError(c, err)
		return
	}
	limit := f.toUnit(f.remain + f.used)
	c.JSON(http.StatusOK, subscription{
		Object: "billing_subscription", HasPaymentMethod: true,
		SoftLimitUSD: limit, HardLimitUSD: limit, SystemHardLimitUSD: limit,
		AccessUntil: f.accessUntil,
	})
}

// BillingUsage is GET [/v1]/dashboard/billing/usage: everything spent, in
// hundredths; the start_date and end_date OpenAI took are ignored, as by
// one-api.
func (a *API) BillingUsage(c *gin.Context) {
	f, err := a.figures(c)
	if err != nil {
		billingError(c, err)
		return
	}
	c.JSON(http.StatusOK, usage{Object: "list", TotalUsage: f.toUnit(f.used) * 100})
}

// billingError answers a failed read in OpenAI's error shape. The token
// was authenticated a moment ago, so a missing row means it was just
// deleted.
func billingError(c *gin.Context, err error) {
	status, msg := http.StatusInternalServerError, "could not read the balance"
	if errors.Is(err, model.ErrNotFound) {
		status, msg = http.StatusUnauthorized, "invalid token"
	} else {
		common.Error("%s %s (request id %s): %v", c.Request.Method, c.Request.URL.Path, middleware.RequestID(c), err)
	}
	c.AbortWithStatusJSON(status, middleware.OpenAIError{Error: middleware.OpenAIErrorBody{
		Message: middleware.WithRequestID(c, msg), Type: "one_api_error",
	}})
}
