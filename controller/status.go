package controller

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/common"
	"one-api/model"
)

// pingTimeout bounds the readiness check so a stuck database answers 503
// instead of hanging the probe.
const pingTimeout = 3 * time.Second

// statusData is GET /api/status's data.
type statusData struct {
	Version      string  `json:"version"`
	StartTime    int64   `json:"start_time"`
	NodeType     string  `json:"node_type"`
	Database     string  `json:"database"`
	Redis        string  `json:"redis"` // "ok", "down: <error>" or "off"
	QuotaPerUnit float64 `json:"quota_per_unit"`
	statusOptions
}

// statusOptions are the rest of one-api's /api/status: display options
// from the options table, and the sign-in methods, which are all off here
// (mail verification, OAuth and Turnstile are not served), so consoles
// hide them.
type statusOptions struct {
	SystemName        string `json:"system_name"`
	Logo              string `json:"logo"`
	FooterHTML        string `json:"footer_html"`
	ServerAddress     string `json:"server_address"`
	TopUpLink         string `json:"top_up_link"`
	ChatLink          string `json:"chat_link"`
	DisplayInCurrency bool   `json:"display_in_currency"`

	EmailVerification bool   `json:"email_verification"`
	GitHubOAuth       bool   `json:"github_oauth"`
	GitHubClientID    string `json:"github_client_id"`
	LarkClientID      string `json:"lark_client_id"`
	WeChatQRCode      string `json:"wechat_qrcode"`
	WeChatLogin       bool   `json:"wechat_login"`
	TurnstileCheck    bool   `json:"turnstile_check"`
	TurnstileSiteKey  string `json:"turnstile_site_key"`
	OIDC              bool   `json:"oidc"`
	OIDCClientID      string `json:"oidc_client_id"`
}

func newStatusOptions(opts *model.Options) statusOptions {
	return statusOptions{
		SystemName: optionOr(opts, "SystemName", "One API"), Logo: opts.Raw["Logo"], FooterHTML: opts.Raw["Footer"],
		ServerAddress: opts.Raw["ServerAddress"], TopUpLink: opts.Raw["TopUpLink"], ChatLink: opts.Raw["ChatLink"],
		DisplayInCurrency: optionBool(opts, "DisplayInCurrencyEnabled", true),
	}
}

// Status is GET /api/status: public facts about this node, and readiness:
// HTTP 503 with success=false while the database does not answer. Redis
// being down is reported but keeps the node ready: quota checks then fall
// back to the node's own balances, and invalidations to the cache TTL.
func (a *API) Status(c *gin.Context) {
	data := statusData{
		Version: a.Version, StartTime: a.StartTime, NodeType: a.NodeType,
		Database: a.Store.Dialect, Redis: "off", QuotaPerUnit: a.Options.Get().QuotaPerUnit,
		statusOptions: newStatusOptions(a.Options.Get()),
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), pingTimeout)
	defer cancel()
	if a.RedisStatus != nil {
		data.Redis = a.RedisStatus(ctx)
	}
	if err := a.Store.Ping(ctx); err != nil {
		common.Warn("readiness: database ping failed: %v", err)
		c.JSON(http.StatusServiceUnavailable, Envelope{Message: "database unavailable", Data: data})
		return
	}
	respond(c, data)
}
