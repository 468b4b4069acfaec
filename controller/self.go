package controller

import (
	"errors"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/middleware"
	"one-api/model"
)

// optionBool reads a boolean option with one-api's default when unset; a
// value that does not parse counts as the default too.
func optionBool(opts *model.Options, key string, def bool) bool {
	v, err := strconv.ParseBool(optionOr(opts, key, strconv.FormatBool(def)))
	if err != nil {
		return def
	}
	return v
}

// optionQuota reads a quota option (QuotaForNewUser and the like); unset,
// malformed or negative is 0.
func optionQuota(opts *model.Options, key string) int64 {
	n, err := strconv.ParseInt(opts.Raw[key], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// registerRequest is one-api's registration form: password2, email and
// verification_code are what its console sends; email is not stored (mail
// verification is not served) and aff_code is the inviter's code.
type registerRequest struct {
	Username         string `json:"username"`
	Password         string `json:"password"`
	Password2        string `json:"password2"`
	DisplayName      string `json:"display_name"`
	Email            string `json:"email"`
	VerificationCode string `json:"verification_code"`
	AffCode          string `json:"aff_code"`
}

// Register is POST /api/user/register: a common user, when the options
// RegisterEnabled and PasswordRegisterEnabled allow it (one-api's defaults:
// on; a database this gateway created starts with RegisterEnabled off).
// The user gets QuotaForNewUser; with a valid aff_code, QuotaForInvitee
// more, and the inviter QuotaForInviter, in the same transaction.
func (a *API) Register(c *gin.Context) {
	opts := a.Options.Get()
	switch {
	case !optionBool(opts, "RegisterEnabled", true):
		fail(c, Errorf("registration is closed: the administrator turned off new user registration"))
		return
	case !optionBool(opts, "PasswordRegisterEnabled", true):
		fail(c, Errorf("registration with a password is turned off"))
		return
	case optionBool(opts, "EmailVerificationEnabled", false):
		// Honouring the operator's gate: we cannot verify mail.
		fail(c, Errorf("registration requires email verification, which this gateway does not serve"))
		return
	case optionBool(opts, "TurnstileCheckEnabled", false):
		fail(c, Errorf("registration requires a Turnstile check, which this gateway does not serve"))
		return
	}
	var req registerRequest
	if err := bindStrict(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.DisplayName == "" {
		req.DisplayName = req.Username
	}
	errs := []error{checkUsername(req.Username), checkPassword(req.Password), checkDisplayName(req.DisplayName)}
	if req.Password2 != "" && req.Password2 != req.Password {
		errs = append(errs, Errorf("the two passwords do not match"))
	}
	if err := joinErrors(errs...); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	if _, err := a.Store.GetUserByUsername(ctx, req.Username); err == nil {
		fail(c, Errorf("username "+strconv.Quote(req.Username)+" is taken"))
		return
	} else if !errors.Is(err, model.ErrNotFound) {
		fail(c, err)
		return
	}
	inviter, err := a.Store.GetUserByAffCode(ctx, req.AffCode)
	if err != nil {
		fail(c, err)
		return
	}
	var inviterID int
	if inviter != nil {
		inviterID = inviter.ID
	}
	hash, err := a.hashPassword(req.Password)
	if err != nil {
		fail(c, err)
		return
	}
	newQuota, inviteeQuota, inviterQuota := optionQuota(opts, "QuotaForNewUser"), int64(0), int64(0)
	if inviterID != 0 {
		inviteeQuota, inviterQuota = optionQuota(opts, "QuotaForInvitee"), optionQuota(opts, "QuotaForInviter")
	}
	u := &model.User{
		Username: req.Username, Password: hash, DisplayName: req.DisplayName,
		Role: model.RoleCommon, Status: model.UserEnabled, Group: "default", Quota: newQuota + inviteeQuota,
		AccessToken: common.RandomString(accessTokenLength), AffCode: common.RandomString(affCodeLength),
		InviterID: inviterID,
	}
	err = a.credit(ctx, inviterID, func() []*model.Log { return a.registerLogs(c, u, inviter, newQuota, inviteeQuota, inviterQuota) },
		func(tx model.Tx) (int64, error) {
			if err := tx.CreateUser(u); err != nil {
				return 0, err
			}
			if inviterQuota > 0 {
				if err := tx.AddUserQuota(inviterID, inviterQuota); err != nil {
					return 0, err
				}
			}
			return inviterQuota, nil
		})
	if err != nil {
		if errors.Is(err, model.ErrDuplicate) {
			err = Errorf("username " + strconv.Quote(req.Username) + " is taken")
		}
		fail(c, err)
		return
	}
	respond(c, nil)
}

// registerLogs are one-api's system logs of a registration's rewards.
func (a *API) registerLogs(c *gin.Context, u, inviter *model.User, newQuota, inviteeQuota, inviterQuota int64) []*model.Log {
	now, rid := time.Now().Unix(), middleware.RequestID(c)
	var logs []*model.Log
	add := func(userID int, username string, content string) {
		logs = append(logs, &model.Log{UserID: userID, Username: username, CreatedAt: now, Type: model.LogSystem,
			Content: content, RequestID: rid})
	}
	if newQuota > 0 {
		add(u.ID, u.Username, "New user bonus: "+a.logQuota(newQuota))
	}
	if inviteeQuota > 0 {
		add(u.ID, u.Username, "Bonus for registering with an invitation code: "+a.logQuota(inviteeQuota))
	}
	if inviterQuota > 0 {
		add(inviter.ID, inviter.Username, "Bonus for inviting a user: "+a.logQuota(inviterQuota))
	}
	return logs
}
