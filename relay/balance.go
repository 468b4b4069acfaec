package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"one-api/model"
)

// ErrBalanceUnsupported is Balance's answer for a channel type without a
// known balance API.
var ErrBalanceUnsupported = errors.New("not supported for this channel type: no balance API is known for it")

// balanceAPI is how one channel type reports its account balance: a GET of
// path on the channel's base URL with the channel's key as a bearer token,
// and how to read the answer.
type balanceAPI struct {
	defaultBase string
	path        string
	read        func(body []byte) (float64, error)
}

// balanceAPIs are the balance APIs one-api v0.6.11 knows for OpenAI-protocol
// resellers whose address follows from the channel's base URL. OpenAI and
// Custom channels (whose two-call API is openAIBalance) are not in it;
// OpenAI-SB and AIProxy, whose APIs sit on fixed hosts of their own, are not
// supported.
var balanceAPIs = map[int]balanceAPI{
	4:  {"https://api.closeai-proxy.xyz", "/dashboard/billing/credit_grants", creditGrants("total_available")},
	12: {"https://api.api2gpt.com", "/dashboard/billing/credit_grants", creditGrants("total_remaining")},
	13: {"https://api.aigc2d.com", "/dashboard/billing/credit_grants", creditGrants("total_available")},
	20: {"https://openrouter.ai/api", "/v1/credits", readOpenRouter},
	36: {"https://api.deepseek.com", "/user/balance", readDeepSeek},
	44: {"https://api.siliconflow.cn", "/v1/user/info", readSiliconFlow},
}

// balanceTimeout bounds each call to an upstream's balance API.
const balanceTimeout = 15 * time.Second

// HasBalanceAPI reports whether Balance can ask a channel of type typ.
func HasBalanceAPI(typ int) bool {
	_, ok := balanceAPIs[typ]
	return ok || typ == model.ChannelOpenAI || typ == model.ChannelCustom
}

// Balance asks the upstream of the channel in row for its account balance
// (in the upstream's currency, usually US dollars; DeepSeek's in yuan, as
// one-api), through the shared upstream client.
func (r *Relay) Balance(ctx context.Context, row *model.Channel) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, balanceTimeout)
	defer cancel()
	base := ""
	if row.BaseURL != nil {
		base = strings.TrimRight(strings.TrimSpace(*row.BaseURL), "/")
	}
	if row.Type == model.ChannelOpenAI || row.Type == model.ChannelCustom {
		if base == "" && row.Type == model.ChannelOpenAI {
			base = "https://api.openai.com"
		}
		if base == "" {
			return 0, errors.New("the channel has no base_url")
		}
		return r.openAIBalance(ctx, base, row.Key)
	}
	api, ok := balanceAPIs[row.Type]
	if !ok {
		return 0, ErrBalanceUnsupported
	}
	if base == "" {
		base = api.defaultBase
	}
	body, err := r.getJSON(ctx, base+api.path, row.Key)
	if err != nil {
		return 0, err
	}
	return api.read(body)
}

// openAIBalance is OpenAI's retired dashboard billing API, which resellers
// (and one-api itself) still serve: the hard limit less this month's usage,
// or the last 100 days' for an account without a payment method.
func (r *Relay) openAIBalance(ctx context.Context, base, key string) (float64, error) {
	body, err := r.getJSON(ctx, base+"/v1/dashboard/billing/subscription", key)
	if err != nil {
		return 0, err
	}
	var sub struct {
		HasPaymentMethod bool    `json:"has_payment_method"`
		HardLimitUSD     float64 `json:"hard_limit_usd"`
	}
	if err := json.Unmarshal(body, &sub); err != nil {
		return 0, fmt.Errorf("read subscription: %w", err)
	}
	now := time.Now()
	start := now.Format("2006-01") + "-01"
	if !sub.HasPaymentMethod {
		start = now.AddDate(0, 0, -100).Format("2006-01-02")
	}
	body, err = r.getJSON(ctx, base+"/v1/dashboard/billing/usage?start_date="+start+"&end_date="+now.Format("2006-01-02"), key)
	if err != nil {
		return 0, err
	}
	var use struct {
		TotalUsage float64 `json:"total_usage"` // cents
	}
	if err := json.Unmarshal(body, &use); err != nil {
		return 0, fmt.Errorf("read usage: %w", err)
	}
	return sub.HardLimitUSD - use.TotalUsage/100, nil
}

// getJSON GETs url with key as a bearer token and returns a 200's body.
// Errors never quote the key or the body (which may echo it).
func (r *Relay) getJSON(ctx context.Context, url, key string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("balance request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("balance request failed: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read balance answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("balance API answered status %d", resp.StatusCode)
	}
	return body, nil
}

// creditGrants reads field of an OpenAI-style credit_grants answer.
func creditGrants(field string) func([]byte) (float64, error) {
	return func(body []byte) (float64, error) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return 0, fmt.Errorf("read credit grants: %w", err)
		}
		v, err := strconv.ParseFloat(string(m[field]), 64)
		if err != nil {
			return 0, fmt.Errorf("read credit grants: no number in %s", field)
		}
		return v, nil
	}
}

func readOpenRouter(body []byte) (float64, error) {
	var a struct {
		Data struct {
			TotalCredits float64 `json:"total_credits"`
			TotalUsage   float64 `json:"total_usage"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, fmt.Errorf("read credits: %w", err)
	}
	return a.Data.TotalCredits - a.Data.TotalUsage, nil
}

// readDeepSeek reads the yuan balance, as one-api.
func readDeepSeek(body []byte) (float64, error) {
	var a struct {
		BalanceInfos []struct {
			Currency     string `json:"currency"`
			TotalBalance string `json:"total_balance"`
		} `json:"balance_infos"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, fmt.Errorf("read balance: %w", err)
	}
	for _, b := range a.BalanceInfos {
		if b.Currency == "CNY" {
			return strconv.ParseFloat(b.TotalBalance, 64)
		}
	}
	return 0, errors.New("read balance: no CNY balance in the answer")
}

func readSiliconFlow(body []byte) (float64, error) {
	var a struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    struct {
			TotalBalance string `json:"totalBalance"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, fmt.Errorf("read user info: %w", err)
	}
	if a.Code != 20000 {
		return 0, fmt.Errorf("balance API answered code %d: %s", a.Code, a.Message)
	}
	return strconv.ParseFloat(a.Data.TotalBalance, 64)
}
