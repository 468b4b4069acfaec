package router

import (
	"github.com/gin-gonic/gin"

	"one-api/controller"
)

// RegisterBilling registers OpenAI's old dashboard billing endpoints, with
// and without /v1 as one-api serves them, behind auth: relay token auth
// built without a model reader (these are GETs without a body) and without
// the requests-per-minute limiter (they cost no upstream call).
func RegisterBilling(e *gin.Engine, api *controller.API, auth gin.HandlerFunc) {
	for _, prefix := range []string{"", "/v1"} {
		e.GET(prefix+"/dashboard/billing/subscription", auth, api.BillingSubscription)
		e.GET(prefix+"/dashboard/billing/usage", auth, api.BillingUsage)
	}
}
