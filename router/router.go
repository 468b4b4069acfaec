// Package router assembles the gin engine: global middleware, the admin API
// under /api and the OpenAI-compatible relay under /v1.
package router

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// Deps is everything the routes need, built once in main.
type Deps struct {
	GinMode string
	// TrustedProxies may set X-Forwarded-For (TRUSTED_PROXIES); nil = none.
	TrustedProxies []string
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
	e.RedirectFixedPath = false
	if err := e.SetTrustedProxies(d.TrustedProxies); err != nil {
		// LoadConfig validated the list; reaching this is a programming error.
		panic(fmt.Sprintf("trusted proxies: %v", err))
	}
	e.Use(d.Global...)
	for _, r := range d.Register {
		r(e)
	}
	e.NoRoute(notFound)
	return e
}

// notFound answers in the caller's dialect: OpenAI's error object under /v1,
// one-api's envelope elsewhere.
func notFound(c *gin.Context) {
	path := c.Request.URL.Path
	if strings.HasPrefix(path, "/v1/") || path == "/v1" {
		c.JSON(http.StatusNotFound, gin.H{"error": gin.H{
			"message": "Invalid URL (" + c.Request.Method + " " + path + ")",
			"type":    "invalid_request_error",
			"param":   "",
			"code":    "unknown_url",
		}})
		return
	}
	c.JSON(http.StatusNotFound, gin.H{"success": false, "message": "not found: " + path, "data": nil})
}
