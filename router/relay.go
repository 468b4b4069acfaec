package router

import (
	"github.com/gin-gonic/gin"

	"one-api/middleware"
	"one-api/relay"
)

// RegisterRelay registers the relay's /v1 routes on e, each behind token
// auth; before runs ahead of token auth (rate limits and the like).
func RegisterRelay(e *gin.Engine, r *relay.Relay, before ...gin.HandlerFunc) {
	chain := append(append([]gin.HandlerFunc{}, before...), middleware.TokenAuth(r.TokenAuthConfig()))
	for _, rt := range r.Routes() {
		e.Handle(rt.Method, rt.Path, append(chain[:len(chain):len(chain)], rt.Handler)...)
	}
}
