package relay

import (
	"context"
	"net/http"
	"strings"

	"one-api/common"
	"one-api/model"
	"one-api/relay/openai"
)

// deadKeyCodes are upstream error codes (or types) that mean the channel's
// key will not work again until someone fixes it. one-api also disabled on
// "permission_error", but OpenAI sends that for a single model the key may
// not use, so here it only fails the request.
var deadKeyCodes = []string{"invalid_api_key", "account_deactivated", "insufficient_quota", "billing_not_active", "authentication_error"}

// deadKeyMessages are phrases of such errors from upstreams that send no
// code (one-api's list, minus its bare "credit" and "balance", which match
// too much).
var deadKeyMessages = []string{
	"incorrect api key", "invalid api key", "api key not valid", "api key expired",
	"your access was terminated", "violation of our policies", "your credit balance is too low",
	"organization has been disabled", "organization has been restricted", "account deactivated",
}

// shouldDisable reports whether an upstream error says the channel's key is
// dead: a 401, or a known code, type or message.
func shouldDisable(status int, e openai.Error) bool {
	if status == http.StatusUnauthorized {
		return true
	}
	code, _ := e.Code.(string)
	for _, c := range deadKeyCodes {
		if code == c || e.Type == c {
			return true
		}
	}
	msg := strings.ToLower(e.Message)
	for _, m := range deadKeyMessages {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// maybeDisable disables ch when auto-disable is on and the error says its
// key is dead: status 3 in the database, its abilities off, and the routing
// table rebuilt at once so no other request picks it. It reports whether ch
// is now (or was already being) disabled, in which case the request may go
// to another channel.
func (r *Relay) maybeDisable(ctx context.Context, opts *model.Options, ch *Channel, status int, e openai.Error) bool {
	if !opts.AutomaticDisableChannelEnabled || !shouldDisable(status, e) {
		return false
	}
	if _, busy := r.disabled.LoadOrStore(ch.ID, struct{}{}); busy {
		return true
	}
	// The message may quote part of the key; the log gets only its codes.
	common.Warn("channel #%d disabled: upstream status %d, type %q, code %v", ch.ID, status, e.Type, e.Code)
	ctx = context.WithoutCancel(ctx)
	if err := r.cfg.Store.AutoDisableChannel(ctx, ch.ID); err != nil {
		common.Error("channel #%d: %v", ch.ID, err)
		r.disabled.Delete(ch.ID)
		return true
	}
	if r.cfg.ChannelDisabled != nil {
		r.cfg.ChannelDisabled(ch.ID)
	}
	if err := r.Reload(ctx); err != nil {
		common.Error("channel #%d disabled but routing not rebuilt: %v", ch.ID, err)
	}
	if r.cfg.ChannelsChanged != nil {
		r.cfg.ChannelsChanged(ctx)
	}
	return true
}
