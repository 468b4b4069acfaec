// Package controller holds the admin API handlers (/api/*). Handlers are
// methods on structs holding their dependencies; each parses, calls the
// store and answers through one envelope helper.
package controller

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/middleware"
	"one-api/model"
)

// Envelope is one-api's response shape for every /api route.
type Envelope struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

// UserError is a failure whose message is meant for the caller (bad input,
// not found, not allowed). Anything else is logged and answered generically.
type UserError struct{ Msg string }

func (e *UserError) Error() string { return e.Msg }

// Errorf builds a UserError.
func Errorf(msg string) error { return &UserError{Msg: msg} }

// respond answers success with data.
func respond(c *gin.Context, data any) {
	c.JSON(http.StatusOK, Envelope{Success: true, Data: data})
}

// fail answers a handled error with HTTP 200 and success=false, as one-api
// does; a body over the size limit gets its 413. Store errors that mean
// "not found" or "already exists" are told to the caller; anything else is
// logged with the request id and not echoed.
func fail(c *gin.Context, err error) {
	if middleware.BodyTooLarge(c, err) {
		return
	}
	var ue *UserError
	var msg string
	switch {
	case errors.As(err, &ue):
		msg = ue.Msg
	case errors.Is(err, model.ErrNotFound):
		msg = "not found"
	case errors.Is(err, model.ErrDuplicate):
		msg = "already exists"
	default:
		id := middleware.RequestID(c)
		common.Error("%s %s (request id %s): %v", c.Request.Method, c.Request.URL.Path, id, err)
		msg = "internal error, see server log (request id: " + id + ")"
	}
	c.JSON(http.StatusOK, Envelope{Success: false, Message: msg})
}
