package controller

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"one-api/common"
	"one-api/middleware"
	"one-api/model"
)

// updateSelfRequest is PUT /api/user/self's body: what one-api's console
// sends, plus original_password, which a password change needs.
type updateSelfRequest struct {
	Username         *string `json:"username"`
	DisplayName      *string `json:"display_name"`
	Password         *string `json:"password"`
	OriginalPassword string  `json:"original_password"`
}

// UpdateSelf is PUT /api/user/self: the caller's username, display name
// and password (a new password needs the current one in
// original_password, so a stolen session cannot lock its owner out).
// Quota, role, status and group are not the caller's to change.
func (a *API) UpdateSelf(c *gin.Context) {
	var req updateSelfRequest
	if err := bindStrict(c, &req); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	id, _ := caller(c)
	u, err := a.Store.GetUser(ctx, id)
	if err != nil {
		fail(c, err)
		return
	}
	var patch model.UserPatch
	var errs []error
	if req.Username != nil && *req.Username != u.Username {
		errs = append(errs, checkUsername(*req.Username))
		patch.Username = req.Username
	}
	if req.DisplayName != nil {
		errs = append(errs, checkDisplayName(*req.DisplayName))
		patch.DisplayName = req.DisplayName
	}
	if req.Password != nil && *req.Password != "" {
		switch {
		case req.OriginalPassword == "":
			errs = append(errs, Errorf("original_password is required to set a new password"))
		case bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(req.OriginalPassword)) != nil:
			errs = append(errs, Errorf("original_password is wrong"))
		default:
			errs = append(errs, checkPassword(*req.Password))
		}
	}
	if err := joinErrors(errs...); err != nil {
		fail(c, err)
		return
	}
	if req.Password != nil && *req.Password != "" {
		h, err := a.hashPassword(*req.Password)
		if err != nil {
			fail(c, err)
			return
		}
		patch.Password = &h
	}
	if !patch.Empty() {
		if err := a.Store.UpdateUser(ctx, id, patch); err != nil {
			if errors.Is(err, model.ErrDuplicate) {
				err = Errorf("username is taken")
			}
			fail(c, err)
			return
		}
		a.userChanged(id)
	}
	respond(c, nil)
}

// DeleteSelf is DELETE /api/user/self: the caller's account goes (a hard
// delete, as one-api), and the session with it; root cannot delete itself.
func (a *API) DeleteSelf(c *gin.Context) {
	id, role := caller(c)
	if role == model.RoleRoot {
		fail(c, Errorf("the root user cannot be deleted"))
		return
	}
	if err := a.Store.DeleteUser(c.Request.Context(), id); err != nil {
		fail(c, err)
		return
	}
	a.quota().Forget(id)
	a.userChanged(id)
	if err := middleware.EndSession(c); err != nil {
		common.Warn("clear the session of deleted user %d: %v", id, err)
	}
	respond(c, nil)
}

// AffCode is GET /api/user/aff: the caller's invitation code, created on
// first use for users that have none.
func (a *API) AffCode(c *gin.Context) {
	ctx := c.Request.Context()
	id, _ := caller(c)
	u, err := a.Store.GetUser(ctx, id)
	if err != nil {
		fail(c, err)
		return
	}
	if u.AffCode == "" {
		code := common.RandomString(affCodeLength)
		if err := a.Store.UpdateUser(ctx, id, model.UserPatch{AffCode: &code}); err != nil {
			fail(c, err)
			return
		}
		u.AffCode = code
	}
	respond(c, u.AffCode)
}

// AvailableModels is GET /api/user/available_models: the models the
// caller's group can use (enabled abilities), as one-api answers.
func (a *API) AvailableModels(c *gin.Context) {
	group, ok := a.callerGroup(c)
	if !ok {
		return
	}
	models, err := a.Store.GroupModels(c.Request.Context(), group)
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, models)
}

// Models is GET /api/models: the models the caller's group can use, keyed
// by the type of the channels that serve them (one-api keyed its built-in
// model lists by channel type).
func (a *API) Models(c *gin.Context) {
	group, ok := a.callerGroup(c)
	if !ok {
		return
	}
	m, err := a.Store.GroupModelsByChannelType(c.Request.Context(), group)
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, m)
}

// callerGroup is the logged-in caller's group, read fresh from the store;
// on failure it has answered the request.
func (a *API) callerGroup(c *gin.Context) (string, bool) {
	id, _ := caller(c)
	u, err := a.Store.GetUser(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return "", false
	}
	return u.Group, true
}

// dashboardDays is how far back GET /api/user/dashboard looks.
const dashboardDays = 30

// Dashboard is GET /api/user/dashboard: the caller's consume logs of the
// last 30 UTC days (today included) summed per day and model, in one-api's
// shape. Usage that was not logged is not in it: with consume logs off the
// message says so.
func (a *API) Dashboard(c *gin.Context) {
	id, _ := caller(c)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -(dashboardDays - 1)).Unix()
	end := today.Add(24*time.Hour - time.Second).Unix()
	rows, err := a.Store.UsageByDayAndModel(c.Request.Context(), id, start, end)
	if err != nil {
		fail(c, err)
		return
	}
	if rows == nil {
		rows = []model.DayModelUsage{}
	}
	env := Envelope{Success: true, Data: rows}
	if a.ConsumeLogsOff || !a.Options.Get().LogConsumeEnabled {
		env.Message = "consume logs are off (LOG_CONSUME_ENABLED or the LogConsumeEnabled option): " +
			"requests made since are not in this dashboard"
	}
	c.JSON(http.StatusOK, env)
}
