// Package controller holds the admin API handlers (/api/*). Handlers are
// methods on structs holding their dependencies; each parses, calls the
// store and answers through one envelope helper.
package controller

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
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
// does. Internal errors are logged with the request id and not echoed.
func fail(c *gin.Context, err error) {
	var ue *UserError
	msg := err.Error()
	if !errors.As(err, &ue) {
		_ = c.Error(err)
		msg = "internal error, see server log (request id: " + c.GetHeader("X-Oneapi-Request-Id") + ")"
	}
	c.JSON(http.StatusOK, Envelope{Success: false, Message: msg})
}
