package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/model"
)

// Limits of user fields. Username and display name are one-api's; the
// password may be longer than one-api's 20 but not past bcrypt's 72 bytes.
const (
	maxUsername    = 12
	maxDisplayName = 20
	minPassword    = 8
	maxPassword    = 72
	maxGroup       = 32 // users.group is varchar(32)
	affCodeLength  = 4
)

// ListUsers is GET /api/user/ (admin): a page of users, newest first.
func (a *API) ListUsers(c *gin.Context) {
	users, err := a.Store.ListUsers(c.Request.Context(), page(c))
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, a.withPendingUsers(users))
}

// SearchUsers is GET /api/user/search?keyword= (admin).
func (a *API) SearchUsers(c *gin.Context) {
	users, err := a.Store.SearchUsers(c.Request.Context(), c.Query("keyword"), page(c))
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, a.withPendingUsers(users))
}

func (a *API) withPendingUsers(users []model.User) []model.User {
	for i := range users {
		a.withPendingUser(&users[i])
	}
	return users
}

// GetUser is GET /api/user/:id (admin): only users of a lower role, unless
// the caller is root.
func (a *API) GetUser(c *gin.Context) {
	u, err := a.managedUser(c)
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, publicUser(a.withPendingUser(u)))
}

// managedUser loads user :id and checks the caller outranks it.
func (a *API) managedUser(c *gin.Context) (*model.User, error) {
	id, err := idParam(c)
	if err != nil {
		return nil, err
	}
	return outranked(c, func(ctx context.Context) (*model.User, error) { return a.Store.GetUser(ctx, id) })
}

// outranked loads a user and checks the caller outranks it.
func outranked(c *gin.Context, load func(context.Context) (*model.User, error)) (*model.User, error) {
	u, err := load(c.Request.Context())
	if err != nil {
		return nil, err
	}
	return u, checkOutranks(c, u)
}

func checkOutranks(c *gin.Context, u *model.User) error {
	if _, role := caller(c); role <= u.Role && role != model.RoleRoot {
		return Errorf("no permission: the user's role is not below yours")
	}
	return nil
}

type createUserRequest struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
}

// CreateUser is POST /api/user/ (admin): a common user with a hashed
// password, its own access token and the QuotaForNewUser option's quota.
func (a *API) CreateUser(c *gin.Context) {
	var req createUserRequest
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.DisplayName == "" {
		req.DisplayName = req.Username
	}
	err := joinErrors(checkUsername(req.Username), checkPassword(req.Password), checkDisplayName(req.DisplayName))
	if err != nil {
		fail(c, err)
		return
	}
	hash, err := a.hashPassword(req.Password)
	if err != nil {
		fail(c, err)
		return
	}
	quota, _ := strconv.ParseInt(a.Options.Get().Raw["QuotaForNewUser"], 10, 64)
	u := &model.User{
		Username: req.Username, Password: hash, DisplayName: req.DisplayName,
		Role: model.RoleCommon, Status: model.UserEnabled, Group: "default", Quota: max(quota, 0),
		AccessToken: common.RandomString(accessTokenLength), AffCode: common.RandomString(affCodeLength),
	}
	if err := a.Store.CreateUser(c.Request.Context(), u); err != nil {
		if errors.Is(err, model.ErrDuplicate) {
			err = Errorf("username " + strconv.Quote(req.Username) + " is taken")
		}
		fail(c, err)
		return
	}
	respond(c, publicUser(u))
}

type updateUserRequest struct {
	ID          int     `json:"id"`
	Username    *string `json:"username"`
	DisplayName *string `json:"display_name"`
	Password    *string `json:"password"`
	Group       *string `json:"group"`
	Quota       *int64  `json:"quota"`
	Email       *string `json:"email"`
}

// UpdateUser is PUT /api/user/ (admin): the fields given change, and only
// those (a column written back from the read would undo the charges made
// since); an empty password keeps the old one. Role and status change
// through ManageUser; used_quota and request_count never change here.
func (a *API) UpdateUser(c *gin.Context) {
	var req updateUserRequest
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	u, err := outranked(c, func(ctx context.Context) (*model.User, error) { return a.Store.GetUser(ctx, req.ID) })
	if err != nil {
		fail(c, err)
		return
	}
	patch, err := req.patch(a.hashPassword)
	if err != nil {
		fail(c, err)
		return
	}
	if !patch.Empty() {
		if err := a.updateUser(ctx, u.ID, patch); err != nil {
			if errors.Is(err, model.ErrDuplicate) {
				err = Errorf("username is taken")
			}
			fail(c, err)
			return
		}
		a.userChanged(u.ID)
	}
	if u, err = a.Store.GetUser(ctx, u.ID); err != nil {
		fail(c, err)
		return
	}
	respond(c, publicUser(a.withPendingUser(u)))
}

// updateUser writes p. An absolute quota goes through the ledger, so it
// lands after the movements made before it, as with per-request updates;
// the other columns go with it, in the same transaction.
func (a *API) updateUser(ctx context.Context, id int, p model.UserPatch) error {
	if !p.SetsQuota() {
		return a.Store.UpdateUser(ctx, id, p)
	}
	return a.quota().Apply(ctx, func(tx model.Tx) error { return tx.UpdateUser(id, p) })
}

// patch validates the given fields and returns the update they make.
func (r *updateUserRequest) patch(hash func(string) (string, error)) (model.UserPatch, error) {
	var p model.UserPatch
	var errs []error
	if r.Username != nil {
		errs = append(errs, checkUsername(*r.Username))
		p.Username = r.Username
	}
	if r.DisplayName != nil {
		errs = append(errs, checkDisplayName(*r.DisplayName))
		p.DisplayName = r.DisplayName
	}
	if r.Group != nil {
		if *r.Group == "" || len(*r.Group) > maxGroup {
			errs = append(errs, Errorf(fmt.Sprintf("group must be 1 to %d characters", maxGroup)))
		}
		p.Group = r.Group
	}
	if r.Quota != nil {
		if *r.Quota < 0 {
			errs = append(errs, Errorf("quota must not be negative"))
		}
		p.Quota = r.Quota
	}
	if r.Email != nil {
		p.Email = r.Email
	}
	if r.Password != nil && *r.Password != "" {
		if err := checkPassword(*r.Password); err != nil {
			errs = append(errs, err)
		} else {
			h, err := hash(*r.Password)
			if err != nil {
				return model.UserPatch{}, err
			}
			p.Password = &h
		}
	}
	return p, joinErrors(errs...)
}

// DeleteUser is DELETE /api/user/:id (admin): only users of a lower role.
func (a *API) DeleteUser(c *gin.Context) {
	u, err := a.managedUser(c)
	if err != nil {
		fail(c, err)
		return
	}
	if _, role := caller(c); u.Role >= role {
		fail(c, Errorf("no permission: the user's role is not below yours"))
		return
	}
	if err := a.Store.DeleteUser(c.Request.Context(), u.ID); err != nil {
		fail(c, err)
		return
	}
	a.quota().Forget(u.ID)
	a.userChanged(u.ID)
	respond(c, nil)
}

type manageRequest struct {
	Username string `json:"username"`
	Action   string `json:"action"`
}

// manageResult is ManageUser's data, as one-api answers it.
type manageResult struct {
	Role   int `json:"role"`
	Status int `json:"status"`
}

// ManageUser is POST /api/user/manage (admin) with one-api's actions:
// disable, enable, delete, promote (root only), demote.
func (a *API) ManageUser(c *gin.Context) {
	var req manageRequest
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	u, err := outranked(c, func(ctx context.Context) (*model.User, error) { return a.Store.GetUserByUsername(ctx, req.Username) })
	if err != nil {
		fail(c, err)
		return
	}
	_, myRole := caller(c)
	var patch model.UserPatch
	switch req.Action {
	case "disable":
		if u.Role == model.RoleRoot {
			fail(c, Errorf("the root user cannot be disabled"))
			return
		}
		u.Status = model.UserDisabled
		patch.Status = &u.Status
	case "enable":
		u.Status = model.UserEnabled
		patch.Status = &u.Status
	case "delete":
		if u.Role == model.RoleRoot {
			fail(c, Errorf("the root user cannot be deleted"))
			return
		}
	case "promote":
		if myRole != model.RoleRoot {
			fail(c, Errorf("only root can promote users to admin"))
			return
		}
		if u.Role >= model.RoleAdmin {
			fail(c, Errorf("the user is already an admin"))
			return
		}
		u.Role = model.RoleAdmin
		patch.Role = &u.Role
	case "demote":
		if u.Role == model.RoleRoot {
			fail(c, Errorf("the root user cannot be demoted"))
			return
		}
		if u.Role == model.RoleCommon {
			fail(c, Errorf("the user is already a common user"))
			return
		}
		u.Role = model.RoleCommon
		patch.Role = &u.Role
	default:
		fail(c, Errorf("unknown action "+strconv.Quote(req.Action)+": want disable, enable, delete, promote or demote"))
		return
	}
	if req.Action == "delete" {
		err = a.Store.DeleteUser(ctx, u.ID)
	} else {
		err = a.Store.UpdateUser(ctx, u.ID, patch)
	}
	if err != nil {
		fail(c, err)
		return
	}
	if req.Action == "delete" {
		a.quota().Forget(u.ID)
	}
	a.userChanged(u.ID)
	respond(c, manageResult{Role: u.Role, Status: u.Status})
}

func checkUsername(name string) error {
	if name == "" || utf8.RuneCountInString(name) > maxUsername || strings.TrimSpace(name) != name {
		return Errorf(fmt.Sprintf("username must be 1 to %d characters without surrounding spaces", maxUsername))
	}
	return nil
}

func checkDisplayName(name string) error {
	if utf8.RuneCountInString(name) > maxDisplayName {
		return Errorf(fmt.Sprintf("display name must be at most %d characters", maxDisplayName))
	}
	return nil
}

func checkPassword(pw string) error {
	if len(pw) < minPassword || len(pw) > maxPassword {
		return Errorf(fmt.Sprintf("password must be %d to %d bytes", minPassword, maxPassword))
	}
	return nil
}
