package relay

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// Route is one relay endpoint. Every route must run behind token auth
// built from TokenAuthConfig.
type Route struct {
	Method  string
	Path    string
	Handler gin.HandlerFunc
}

// Routes lists the /v1 endpoints the relay serves.
func (r *Relay) Routes() []Route {
	rs := []Route{
		{http.MethodGet, "/v1/models", r.listModels},
		{http.MethodGet, "/v1/models/:model", r.retrieveModel},
	}
	for _, p := range []string{
		"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/moderations",
		"/v1/images/generations", "/v1/audio/speech", "/v1/audio/transcriptions", "/v1/audio/translations",
	} {
		rs = append(rs, Route{http.MethodPost, p, r.serve})
	}
	return append(rs,
		Route{http.MethodPost, "/v1/responses", r.serve},
		Route{http.MethodGet, "/v1/responses/:id", r.storedResponse},
		Route{http.MethodDelete, "/v1/responses/:id", r.storedResponse},
		Route{http.MethodGet, "/v1/responses/:id/input_items", r.storedResponse},
		Route{http.MethodPost, "/v1/messages", r.serve},
		Route{http.MethodPost, "/v1/messages/count_tokens", r.countTokens},
	)
}
