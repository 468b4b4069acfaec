package controller

import (
	"fmt"

	"github.com/gin-gonic/gin"
)

// The search routes take ?keyword= with one-api's semantics (see
// model/search.go) and one-api's paging (?p=, ?page_size=).

// maxKeyword bounds a search keyword; longer ones cannot match any column
// they are compared with.
const maxKeyword = 256

// keyword reads ?keyword= for the search routes.
func keyword(c *gin.Context) (string, error) {
	kw := c.Query("keyword")
	if len(kw) > maxKeyword {
		return "", Errorf(fmt.Sprintf("keyword must be at most %d bytes", maxKeyword))
	}
	return kw, nil
}

// SearchTokens is GET /api/token/search: the caller's tokens whose name
// starts with keyword.
func (a *API) SearchTokens(c *gin.Context) {
	kw, err := keyword(c)
	if err != nil {
		fail(c, err)
		return
	}
	id, _ := caller(c)
	tokens, err := a.Store.SearchTokens(c.Request.Context(), id, kw, page(c))
	if err != nil {
		fail(c, err)
		return
	}
	for i := range tokens {
		a.withPendingToken(&tokens[i])
	}
	respond(c, tokens)
}

// SearchChannels is GET /api/channel/search (admin): channels whose id is
// keyword, whose name starts with it or whose key is exactly it; keys are
// never returned.
func (a *API) SearchChannels(c *gin.Context) {
	kw, err := keyword(c)
	if err != nil {
		fail(c, err)
		return
	}
	chs, err := a.Store.SearchChannels(c.Request.Context(), kw, page(c))
	if err != nil {
		fail(c, err)
		return
	}
	for i := range chs {
		a.withPendingChannel(&chs[i])
	}
	respond(c, channelViews(chs))
}

// SearchLogs is GET /api/log/search (admin): logs whose type is keyword or
// whose content starts with it, newest first.
func (a *API) SearchLogs(c *gin.Context) { a.searchLogs(c, false) }

// SearchSelfLogs is GET /api/log/self/search: the caller's logs of type
// keyword, as one-api matches them.
func (a *API) SearchSelfLogs(c *gin.Context) { a.searchLogs(c, true) }

func (a *API) searchLogs(c *gin.Context, self bool) {
	kw, err := keyword(c)
	if err != nil {
		fail(c, err)
		return
	}
	var userID int
	if self {
		userID, _ = caller(c)
	}
	logs, err := a.Store.SearchLogs(c.Request.Context(), userID, kw, page(c))
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, logs)
}
