package controller_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"one-api/internal/testdb"
	"one-api/model"
)

// billingAnswer is the union of the subscription and usage answers.
type billingAnswer struct {
	Object      string  `json:"object"`
	HasPayment  bool    `json:"has_payment_method"`
	Soft        float64 `json:"soft_limit_usd"`
	Hard        float64 `json:"hard_limit_usd"`
	System      float64 `json:"system_hard_limit_usd"`
	AccessUntil int64   `json:"access_until"`
	TotalUsage  float64 `json:"total_usage"`
	Error       *struct{ Message, Type string }
}

func (e *testEnv) billing(path, key string) (int, billingAnswer) {
	e.t.Helper()
	res := e.do(request{method: "GET", path: path, auth: "Bearer sk-" + key})
	var a billingAnswer
	if err := json.Unmarshal(res.Body.Bytes(), &a); err != nil {
		e.t.Fatalf("GET %s: %d %s", path, res.Code, res.Body)
	}
	return res.Code, a
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestBillingEndpoints: a chat app's balance check through OpenAI's old
// billing endpoints, as one-api answers it: the limit is spent + left, the
// usage is spent in hundredths, both in dollars by QuotaPerUnit (or raw
// quota when DisplayInCurrencyEnabled is off), including movements the
// batched ledger has not flushed; an unlimited token shows its owner's
// balance; both paths (with and without /v1) answer.
func TestBillingEndpoints(t *testing.T) { testdb.Run(t, testBillingEndpoints) }

func testBillingEndpoints(t *testing.T, dialect string) {
	for _, l := range ledgers {
		t.Run(l.name, func(t *testing.T) {
			e := newEnv(t, withDialect(dialect), withQuota(l.new))
			ctx := context.Background()
			alice := e.addUser("alice", "alice-password", "", model.RoleCommon)
			if err := e.store.UpdateUser(ctx, alice, model.UserPatch{Quota: new(int64(2_000_000))}); err != nil {
				t.Fatal(err)
			}
			const limitedKey, unlimitedKey = "billinglimitedbillinglimitedbillinglimitedbill01", "billingunlimitedbillingunlimitedbillingunlimite1"
			limited := &model.Token{UserID: alice, Key: limitedKey, Status: model.TokenEnabled, Name: "l", ExpiredTime: 1900000000, RemainQuota: 500_000}
			unlimited := &model.Token{UserID: alice, Key: unlimitedKey, Status: model.TokenEnabled, Name: "u", ExpiredTime: -1, UnlimitedQuota: true}
			for _, tok := range []*model.Token{limited, unlimited} {
				if err := e.store.CreateToken(ctx, tok); err != nil {
					t.Fatal(err)
				}
			}
			// 250 000 spent through the limited token, 100 000 through the
			// unlimited one; with the batch ledger none of it is flushed.
			e.spend(model.Reservation{UserID: alice, TokenID: limited.ID, Amount: 1000}, 250_000, 0)
			e.spend(model.Reservation{UserID: alice, TokenID: unlimited.ID, Unlimited: true, Amount: 1000}, 100_000, 0)

			for _, prefix := range []string{"", "/v1"} {
				code, sub := e.billing(prefix+"/dashboard/billing/subscription", limitedKey)
				// Token: 250 000 left + 250 000 spent = $1 at 500 000 a dollar.
				if code != 200 || sub.Object != "billing_subscription" || !sub.HasPayment || !near(sub.Hard, 1) || !near(sub.Soft, 1) ||
					!near(sub.System, 1) || sub.AccessUntil != 1900000000 {
					t.Errorf("%s subscription of the limited token = %d %+v, want limits of $1 until 1900000000", prefix, code, sub)
				}
				code, use := e.billing(prefix+"/dashboard/billing/usage", limitedKey)
				if code != 200 || use.Object != "list" || !near(use.TotalUsage, 50) {
					t.Errorf("%s usage of the limited token = %d %+v, want 50 (cents)", prefix, code, use)
				}
			}
			// Unlimited: the owner's 2 000 000 − 350 000 left + 350 000 spent.
			if _, sub := e.billing("/v1/dashboard/billing/subscription", unlimitedKey); !near(sub.Hard, 4) || sub.AccessUntil != 0 {
				t.Errorf("subscription of the unlimited token = %+v, want the owner's $4, no expiry", sub)
			}
			if _, use := e.billing("/v1/dashboard/billing/usage", unlimitedKey); !near(use.TotalUsage, 70) {
				t.Errorf("usage of the unlimited token = %+v, want the owner's 70 cents", use)
			}

			// Quota units instead of dollars; the owner's figures for every
			// token when token statistics are off.
			for k, v := range map[string]string{"DisplayInCurrencyEnabled": "false", "DisplayTokenStatEnabled": "false"} {
				if err := e.options.Set(ctx, k, v); err != nil {
					t.Fatal(err)
				}
			}
			if _, sub := e.billing("/dashboard/billing/subscription", limitedKey); sub.Hard != 2_000_000 || sub.AccessUntil != 0 {
				t.Errorf("subscription in quota units, user statistics = %+v, want 2000000", sub)
			}
			if _, use := e.billing("/dashboard/billing/usage", limitedKey); use.TotalUsage != 350_000*100 {
				t.Errorf("usage in quota units = %+v, want 35000000", use)
			}

			// Refusals are OpenAI errors.
			res := e.do(request{method: "GET", path: "/v1/dashboard/billing/usage", auth: "Bearer sk-nosuchkeynosuchkeynosuchkeynosuchkeynosuchkey12"})
			if res.Code != http.StatusUnauthorized || !strings.Contains(res.Body.String(), `"error":{"message":"invalid token`) {
				t.Errorf("unknown key: %d %s, want 401 in OpenAI's shape", res.Code, res.Body)
			}
			if res := e.do(request{method: "GET", path: "/dashboard/billing/subscription"}); res.Code != http.StatusUnauthorized {
				t.Errorf("no key: %d, want 401", res.Code)
			}
		})
	}
}
