package relay

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"one-api/common"
	"one-api/middleware"
	"one-api/model"
	"one-api/relay/openai"
	"one-api/relay/pricing"
	"one-api/relay/tokenizer"
)

// prices is the ratio snapshot the relay bills with; it is rebuilt when
// the ratio options change, never per request.
type prices = pricing.Table

func newPrices(o *model.Options, unknownRatio float64) (*prices, error) {
	return pricing.New(unknownRatio, pricing.Overrides{
		ModelRatio: o.ModelRatio, CompletionRatio: o.CompletionRatio, GroupRatio: o.GroupRatio,
	})
}

// bill is what billing a request needs between reserve and settle.
type bill struct {
	promptTokens int // estimated for the reservation; counted exactly only when upstream sends no usage
	res          model.Reservation
	reserved     bool
}

// reserve estimates the prompt, prices the request for the first channel and
// holds the quota (one-api's pre-consume) before any upstream call. A
// refusal is a 403 and upstream is never called.
func (j *job) reserve(ch *Channel) *apiError {
	upModel := ch.upstreamModel(j.p.req.Model)
	j.bill.promptTokens = estimatePrompt(j.p)
	modelRatio, _ := j.prices.ModelRatio(upModel)
	ratio := modelRatio * j.prices.GroupRatio(j.ti.Auth.Group)
	var amount int64
	switch j.p.mode {
	case modeImages, modeSpeech:
		amount = j.fixedQuota(upModel, ratio) // known in advance: reserve all of it
	case modeTranscription:
		amount = pricing.PreConsumeQuota(j.opts.PreConsumedQuota, 0, 0, ratio)
	default:
		amount = pricing.PreConsumeQuota(j.opts.PreConsumedQuota, j.bill.promptTokens, j.p.req.OutputLimit(), ratio)
	}
	a := j.ti.Auth
	j.bill.res = model.Reservation{UserID: a.UserID, TokenID: a.TokenID, Unlimited: a.Unlimited, Amount: amount}
	err := j.r.cfg.Ledger.Reserve(j.settleCtx(), j.bill.res)
	switch {
	case errors.Is(err, model.ErrUserQuotaExhausted):
		return gatewayError(http.StatusForbidden, "insufficient_user_quota", "user quota is not enough")
	case errors.Is(err, model.ErrTokenQuotaExhausted):
		return gatewayError(http.StatusForbidden, "insufficient_token_quota", "token quota is not enough")
	case err != nil:
		return internalError("reserve_quota_failed", err)
	}
	j.bill.reserved = true
	return nil
}

// release returns the reservation of a request that failed: failures are
// not charged.
func (j *job) release() {
	if !j.bill.reserved {
		return
	}
	j.bill.reserved = false
	if err := j.r.cfg.Ledger.Release(j.settleCtx(), j.bill.res); err != nil {
		common.Error("release quota of user %d: %v (request id: %s)", j.bill.res.UserID, err, j.requestID())
	}
}

// settle charges the final price against the reservation, with the ratios
// of the channel that answered, and writes the consume log.
func (j *job) settle(u openai.Usage) {
	upModel := j.ch.upstreamModel(j.p.req.Model)
	modelRatio, _ := j.prices.ModelRatio(upModel)
	completionRatio := j.prices.CompletionRatio(upModel)
	groupRatio := j.prices.GroupRatio(j.ti.Auth.Group)
	var quota int64
	switch j.p.mode {
	case modeImages, modeSpeech:
		quota = j.fixedQuota(upModel, modelRatio*groupRatio)
	default:
		quota = pricing.Quota(u.PromptTokens, u.CompletionTokens, modelRatio, completionRatio, groupRatio)
	}
	if j.info != nil {
		j.info.PromptTokens, j.info.CompletionTokens, j.info.Quota = u.PromptTokens, u.CompletionTokens, quota
	}
	ctx := j.settleCtx()
	j.bill.reserved = false
	s := model.Settlement{Reservation: j.bill.res, ChannelID: j.ch.ID, Quota: quota}
	var l *model.Log
	if j.opts.LogConsumeEnabled {
		a := j.ti.Auth
		l = &model.Log{
			UserID: a.UserID, CreatedAt: time.Now().Unix(), Type: model.LogConsume,
			Content:  ratioContent(modelRatio, groupRatio, completionRatio) + j.note,
			Username: a.Username, TokenName: a.Name, ModelName: j.p.req.Model, Quota: int(quota),
			PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, ChannelID: j.ch.ID,
			RequestID: j.requestID(), ElapsedTime: time.Since(j.start).Milliseconds(), IsStream: j.p.req.Stream,
		}
	}
	if b := j.r.cfg.Biller; b != nil {
		if err := b.Bill(ctx, s, l); err != nil {
			common.Error("settle quota of user %d (%d units) and record its consume log: %v (request id: %s)", s.UserID, quota, err, j.requestID())
		}
		return
	}
	if err := j.r.cfg.Ledger.Settle(ctx, s); err != nil {
		common.Error("settle quota of user %d (%d units): %v (request id: %s)", s.UserID, quota, err, j.requestID())
	}
	if l == nil {
		return
	}
	if err := j.r.cfg.Logs.Record(ctx, l); err != nil {
		common.Error("record consume log: %v (request id: %s)", err, l.RequestID)
	}
}

// ratioContent is the consume log's content, one-api's
// "model ratio %.2f, group ratio %.2f, completion ratio %.2f", appended
// rather than formatted: it is built for every request.
func ratioContent(model, group, completion float64) string {
	var buf [96]byte
	b := append(buf[:0], "model ratio "...)
	b = strconv.AppendFloat(b, model, 'f', 2, 64)
	b = append(b, ", group ratio "...)
	b = strconv.AppendFloat(b, group, 'f', 2, 64)
	b = append(b, ", completion ratio "...)
	b = strconv.AppendFloat(b, completion, 'f', 2, 64)
	return string(b)
}

// countUsage is the usage of a request upstream reported none for: the
// prompt as counted before the call and the completion text as delivered.
func (j *job) countUsage(completion []byte) openai.Usage {
	j.r.counted.Store(true)
	upModel := j.ch.upstreamModel(j.p.req.Model)
	if j.r.stopped.Err() != nil && !tokenizer.Ready(upModel) {
		// The gateway is stopping and the encoding is still loading (a few
		// seconds of CPU): bill by size, four bytes a token, rather than
		// spend the stop budget on the load.
		u := openai.Usage{PromptTokens: estimatePrompt(j.p)}
		if j.p.mode == modeChat || j.p.mode == modeCompletions {
			u.CompletionTokens = (len(completion) + 3) / 4
		}
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
		return u
	}
	u := openai.Usage{PromptTokens: countPrompt(j.p, upModel)}
	switch j.p.mode {
	case modeChat, modeCompletions, modeResponses, modeMessages:
		u.CompletionTokens = countText(j.ch.upstreamModel(j.p.req.Model), completion)
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// prepareCount starts loading the tokenizer at a stream's start so that a
// count at its end does not wait for the load, once this relay has needed a
// count at all. Upstreams that report usage (include_usage is always asked
// for) never pay the load: about 0.3 s of CPU and 11 MB of heap, which on a
// one-core gateway held back the first chunk of every stream opened while it
// ran (issue 19). The first stream that needs a count waits for the load
// before its final event (or, when the gateway is stopping, is billed by
// size: countUsage).
func (j *job) prepareCount() {
	if j.r.counted.Load() {
		tokenizer.Prepare(j.ch.upstreamModel(j.p.req.Model))
	}
}

func (j *job) requestID() string { return j.c.Writer.Header().Get(middleware.RequestIDHeader) }

// fixedQuota prices the endpoints one-api billed per request rather than
// per token: images by one-api's formula, ratio × size/quality factor ×
// 1000 per image (dall-e-3 1024x1024 at ratio 20 = 20000 units = $0.04),
// and speech by input characters × ratio (one-api counted bytes; OpenAI
// bills characters).
func (j *job) fixedQuota(upModel string, ratio float64) int64 {
	if j.p.mode == modeSpeech {
		var req struct {
			Input string `json:"input"`
		}
		_ = json.Unmarshal(j.p.body, &req)
		q := int64(math.Ceil(float64(utf8.RuneCountInString(req.Input)) * ratio))
		if q <= 0 && ratio > 0 {
			q = 1
		}
		return q
	}
	var req struct {
		N       int    `json:"n"`
		Size    string `json:"size"`
		Quality string `json:"quality"`
	}
	_ = json.Unmarshal(j.p.body, &req)
	if req.N <= 0 {
		req.N = 1
	}
	return int64(ratio*imageCostRatio(upModel, req.Size, req.Quality)*1000) * int64(req.N)
}

// imageSizeRatios are one-api's relative prices of image sizes.
var imageSizeRatios = map[string]map[string]float64{
	"dall-e-2": {"256x256": 1, "512x512": 1.125, "1024x1024": 1.25},
	"dall-e-3": {"1024x1024": 1, "1024x1792": 2, "1792x1024": 2},
}

func imageCostRatio(model, size, quality string) float64 {
	if size == "" {
		size = "1024x1024"
	}
	r, ok := imageSizeRatios[model][size]
	if !ok {
		r = 1
	}
	if model == "dall-e-3" && quality == "hd" {
		if size == "1024x1024" {
			r *= 2
		} else {
			r *= 1.5
		}
	}
	return r
}
