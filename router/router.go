// Package router assembles the gin engine: global middleware, the admin API
// under /api and the OpenAI-compatible relay under /v1.
package router

import (
	"github.com/gin-gonic/gin"
)

// Deps is everything the routes need, built once in main.
type Deps struct {
	GinMode string
	// Global middleware, outermost first (request id, recovery, metrics, ...).
	Global []gin.HandlerFunc
	// Each registers its routes on the engine.
	Register []func(*gin.Engine)
}

// New builds the engine.
func New(d Deps) *gin.Engine {
	gin.SetMode(d.GinMode)
	e := gin.New()
	e.RedirectTrailingSlash = false
	e.HandleMethodNotAllowed = false
	e.Use(d.Global...)
	for _, r := range d.Register {
		r(e)
	}
	return e
}
