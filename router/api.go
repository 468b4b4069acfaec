package router

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/controller"
	"one-api/middleware"
)

// APIMiddleware is the admin API's own middleware. Nil limiters are off.
type APIMiddleware struct {
	Sessions      gin.HandlerFunc // cookie sessions, before Auth and login
	Auth          *middleware.Auth
	GlobalLimit   gin.HandlerFunc // every /api route, per client IP
	CriticalLimit gin.HandlerFunc // login, registration, redeem and access-token rotation, per client IP
}

// NewAPIMiddleware builds the admin API middleware from the configuration.
func NewAPIMiddleware(cfg *common.Config, users middleware.UserLookup) APIMiddleware {
	mw := APIMiddleware{
		Sessions: middleware.Sessions(cfg.SessionSecret),
		Auth:     middleware.NewAuth(users),
	}
	if cfg.GlobalAPIRateLimit > 0 {
		mw.GlobalLimit = middleware.RateLimit(cfg.GlobalAPIRateLimit, cfg.GlobalAPIRateWindow)
	}
	if cfg.CriticalRateLimit > 0 {
		mw.CriticalLimit = middleware.RateLimit(cfg.CriticalRateLimit, cfg.CriticalRateWindow)
	}
	return mw
}

// APIGroups are the /api route groups by access level, for routes other
// packages add (e.g. the metrics endpoints on Admin); register them with
// Handle to accept both slash forms.
type APIGroups struct {
	Public, User, Admin, Root *gin.RouterGroup
}

// RegisterAPI registers the admin API (compat.md's route list) on e.
func RegisterAPI(e *gin.Engine, api *controller.API, mw APIMiddleware) APIGroups {
	public := e.Group("/api", nonNil(mw.GlobalLimit, mw.Sessions)...)
	critical := nonNil(mw.CriticalLimit)
	g := APIGroups{
		Public: public,
		User:   public.Group("", mw.Auth.User()),
		Admin:  public.Group("", mw.Auth.Admin()),
		Root:   public.Group("", mw.Auth.Root()),
	}
	get, post, put, del := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete

	Handle(g.Public, get, "/status", api.Status)
	Handle(g.Public, post, "/user/login", then(critical, api.Login)...)
	Handle(g.Public, get, "/user/logout", api.Logout)
	Handle(g.Public, post, "/user/register", then(critical, api.Register)...)
	Handle(g.Public, get, "/notice", api.Notice)
	Handle(g.Public, get, "/about", api.About)
	Handle(g.Public, get, "/home_page_content", api.HomePageContent)

	Handle(g.User, get, "/user/self", api.Self)
	Handle(g.User, get, "/user/token", then(critical, api.RotateAccessToken)...)
	Handle(g.User, put, "/user/self", api.UpdateSelf)
	Handle(g.User, del, "/user/self", api.DeleteSelf)
	Handle(g.User, get, "/user/aff", api.AffCode)
	Handle(g.User, get, "/user/available_models", api.AvailableModels)
	Handle(g.User, get, "/user/dashboard", api.Dashboard)
	Handle(g.User, post, "/user/topup", then(critical, api.Redeem)...)
	Handle(g.User, get, "/models", api.Models)
	Handle(g.Admin, post, "/topup", api.AdminTopUp)
	Handle(g.Admin, get, "/group/", api.Groups)
	Handle(g.Admin, get, "/user/", api.ListUsers)
	Handle(g.Admin, get, "/user/search", api.SearchUsers)
	Handle(g.Admin, get, "/user/:id", api.GetUser)
	Handle(g.Admin, post, "/user/", api.CreateUser)
	Handle(g.Admin, put, "/user/", api.UpdateUser)
	Handle(g.Admin, del, "/user/:id", api.DeleteUser)
	Handle(g.Admin, post, "/user/manage", api.ManageUser)

	Handle(g.User, get, "/token/", api.ListTokens)
	Handle(g.User, get, "/token/search", api.SearchTokens)
	Handle(g.User, get, "/token/:id", api.GetToken)
	Handle(g.User, post, "/token/", api.CreateToken)
	Handle(g.User, put, "/token/", api.UpdateToken)
	Handle(g.User, del, "/token/:id", api.DeleteToken)

	Handle(g.Admin, get, "/channel/", api.ListChannels)
	Handle(g.Admin, get, "/channel/search", api.SearchChannels)
	Handle(g.Admin, get, "/channel/:id", api.GetChannel)
	Handle(g.Admin, post, "/channel/", api.CreateChannel)
	Handle(g.Admin, put, "/channel/", api.UpdateChannel)
	Handle(g.Admin, del, "/channel/:id", api.DeleteChannel)
	Handle(g.Admin, del, "/channel/disabled", api.DeleteDisabledChannels)
	if p := api.Channels; p != nil {
		Handle(g.Admin, get, "/channel/test/:id", p.Test)
		Handle(g.Admin, get, "/channel/test", p.TestAll)
		Handle(g.Admin, get, "/channel/models", p.Models)
		Handle(g.Admin, get, "/channel/update_balance", p.UpdateAllBalances)
		Handle(g.Admin, get, "/channel/update_balance/:id", p.UpdateBalance)
	}

	Handle(g.Admin, get, "/log/", api.ListLogs)
	Handle(g.Admin, del, "/log/", api.DeleteLogs)
	Handle(g.Admin, get, "/log/stat", api.LogStat)
	Handle(g.User, get, "/log/self", api.ListSelfLogs)
	Handle(g.User, get, "/log/self/stat", api.SelfLogStat)
	Handle(g.Admin, get, "/log/search", api.SearchLogs)
	Handle(g.User, get, "/log/self/search", api.SearchSelfLogs)

	Handle(g.Admin, get, "/redemption/", api.ListRedemptions)
	Handle(g.Admin, get, "/redemption/search", api.SearchRedemptions)
	Handle(g.Admin, get, "/redemption/:id", api.GetRedemption)
	Handle(g.Admin, post, "/redemption/", api.CreateRedemptions)
	Handle(g.Admin, put, "/redemption/", api.UpdateRedemption)
	Handle(g.Admin, del, "/redemption/:id", api.DeleteRedemption)

	// The effective database settings (controller/metrics_db.go); the other
	// metrics routes are RegisterMetrics'.
	Handle(g.Admin, get, "/metrics/db", api.DBMetrics)

	Handle(g.Root, get, "/option/", api.ListOptions)
	Handle(g.Root, put, "/option/", api.UpdateOption)
	return g
}

// Handle registers path both with and without its trailing slash: one-api's
// routes end in "/", clients send either, and gin's redirect would turn a
// POST into a GET.
func Handle(g *gin.RouterGroup, method, path string, handlers ...gin.HandlerFunc) {
	g.Handle(method, path, handlers...)
	if other, ok := strings.CutSuffix(path, "/"); ok {
		g.Handle(method, other, handlers...)
	} else {
		g.Handle(method, path+"/", handlers...)
	}
}

// then is pre followed by h, without writing into pre's backing array
// (pre is shared by several routes).
func then(pre []gin.HandlerFunc, h gin.HandlerFunc) []gin.HandlerFunc {
	return append(pre[:len(pre):len(pre)], h)
}

func nonNil(hs ...gin.HandlerFunc) []gin.HandlerFunc {
	var out []gin.HandlerFunc
	for _, h := range hs {
		if h != nil {
			out = append(out, h)
		}
	}
	return out
}
