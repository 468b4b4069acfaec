package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/middleware"
	"one-api/model"
)

// logQuota formats an amount for log text as one-api's LogQuota does: in
// dollars when the DisplayInCurrencyEnabled option is on (its default),
// else in quota units.
func (a *API) logQuota(q int64) string {
	opts := a.Options.Get()
	if on, err := strconv.ParseBool(optionOr(opts, "DisplayInCurrencyEnabled", "true")); err == nil && on {
		return fmt.Sprintf("$%.6f", float64(q)/opts.QuotaPerUnit)
	}
	return fmt.Sprintf("%d quota", q)
}

// optionOr is the raw option key, or def when the table does not hold it
// (one-api's default then applies).
func optionOr(opts *model.Options, key, def string) string {
	if v, ok := opts.Raw[key]; ok {
		return v
	}
	return def
}

// credit adds to user userID's quota through the ledger, together with
// whatever else write does on the transaction (write returns the amount it
// added to userID's quota), and writes the rows logs returns: in the same
// transaction when logs live in the main database (a top-up is then logged
// exactly when it happened), else right after the commit.
func (a *API) credit(ctx context.Context, userID int, logs func() []*model.Log, write func(tx model.Tx) (int64, error)) error {
	inTx := a.Store.LogsInMainDB()
	err := a.quota().Credit(ctx, userID, func(tx model.Tx) (int64, error) {
		n, err := write(tx)
		if err != nil || !inTx {
			return n, err
		}
		for _, l := range logs() {
			if err := tx.InsertLog(l); err != nil {
				return 0, err
			}
		}
		return n, nil
	})
	if err != nil {
		return err
	}
	if userID != 0 {
		a.userChanged(userID)
	}
	if !inTx {
		for _, l := range logs() {
			if err := a.Store.InsertLog(context.WithoutCancel(ctx), l); err != nil {
				// The quota moved; only the record of it is missing.
				common.Error("write top-up log for user %d: %v", userID, err)
			}
		}
	}
	return nil
}

type topUpRequest struct {
	Key string `json:"key"`
}

// Redeem is POST /api/user/topup {"key"}: the caller spends a redemption
// code; data is the quota added. Exactly one of any number of concurrent
// redeems of a code succeeds (the claim is a conditional UPDATE in the same
// transaction as the credit); the others are told the code is used.
func (a *API) Redeem(c *gin.Context) {
	var req topUpRequest
	if err := bindStrict(c, &req); err != nil {
		fail(c, err)
		return
	}
	req.Key = strings.TrimSpace(req.Key)
	if req.Key == "" {
		fail(c, Errorf("key is required: the redemption code to redeem"))
		return
	}
	ctx := c.Request.Context()
	userID, _ := caller(c)
	// Refuse unknown and spent codes without a write transaction.
	if err := a.redeemable(ctx, req.Key); err != nil {
		fail(c, err)
		return
	}
	u, err := a.Store.GetUser(ctx, userID)
	if err != nil {
		fail(c, err)
		return
	}
	var code *model.Redemption
	var lost error
	logs := func() []*model.Log {
		if code == nil { // lost the race: nothing happened
			return nil
		}
		return []*model.Log{{UserID: userID, Username: u.Username, CreatedAt: code.RedeemedTime, Type: model.LogTopUp,
			Quota: int(code.Quota), RequestID: middleware.RequestID(c),
			Content: fmt.Sprintf("Top-up with a redemption code: %s, code ID %d", a.logQuota(code.Quota), code.ID)}}
	}
	err = a.credit(ctx, userID, logs, func(tx model.Tx) (int64, error) {
		r, err := tx.Redeem(req.Key, userID, time.Now().Unix())
		if redeemErr(err) != nil {
			// Lost a race: commit nothing, but not as a failed write (the
			// batch ledger would count a failed flush).
			lost = err
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		code = r
		return r.Quota, nil
	})
	if err == nil && lost != nil {
		err = redeemErr(lost)
	}
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, code.Quota)
}

// redeemable checks code key before the write transaction.
func (a *API) redeemable(ctx context.Context, key string) error {
	r, err := a.Store.GetRedemptionByKey(ctx, key)
	if err == nil {
		err = r.Redeemable()
	}
	if e := redeemErr(err); e != nil {
		return e
	}
	return err
}

// redeemErr is the caller's message for a code that cannot be redeemed,
// nil for any other error.
func redeemErr(err error) error {
	for _, e := range []error{model.ErrRedemptionInvalid, model.ErrRedemptionUsed, model.ErrRedemptionDisabled} {
		if errors.Is(err, e) {
			return Errorf(e.Error())
		}
	}
	return nil
}

type adminTopUpRequest struct {
	UserID int    `json:"user_id"`
	Quota  int64  `json:"quota"`
	Remark string `json:"remark"`
}

// maxRemark bounds the remark, which becomes the log's content.
const maxRemark = 512

// AdminTopUp is POST /api/topup (admin) {"user_id","quota","remark"}: adds
// quota to a user (root: anyone; admins: users of a lower role), logged as
// a top-up with the remark.
func (a *API) AdminTopUp(c *gin.Context) {
	var req adminTopUpRequest
	if err := bindStrict(c, &req); err != nil {
		fail(c, err)
		return
	}
	var errs []error
	if req.Quota <= 0 {
		errs = append(errs, Errorf("quota must be greater than 0"))
	}
	if len(req.Remark) > maxRemark {
		errs = append(errs, Errorf(fmt.Sprintf("remark must be at most %d bytes", maxRemark)))
	}
	if err := joinErrors(errs...); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	u, err := outranked(c, func(ctx context.Context) (*model.User, error) { return a.Store.GetUser(ctx, req.UserID) })
	if err != nil {
		fail(c, err)
		return
	}
	if req.Remark == "" {
		req.Remark = "Top-up through the API: " + a.logQuota(req.Quota)
	}
	logs := func() []*model.Log {
		return []*model.Log{{UserID: u.ID, Username: u.Username, CreatedAt: time.Now().Unix(), Type: model.LogTopUp,
			Quota: int(req.Quota), Content: req.Remark, RequestID: middleware.RequestID(c)}}
	}
	err = a.credit(ctx, u.ID, logs, func(tx model.Tx) (int64, error) {
		return req.Quota, tx.AddUserQuota(u.ID, req.Quota)
	})
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, nil)
}
