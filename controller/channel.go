package controller

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/model"
)

// Channel keys are upstream credentials: no answer of this API carries
// them, not even to root (one-api omits the column the same way).

// ListChannels is GET /api/channel/ (admin): a page of channels, newest
// first, without keys.
func (a *API) ListChannels(c *gin.Context) {
	chs, err := a.Store.ListChannels(c.Request.Context(), page(c))
	if err != nil {
		fail(c, err)
		return
	}
	for i := range chs {
		a.withPendingChannel(&chs[i])
	}
	respond(c, channelViews(chs))
}

// GetChannel is GET /api/channel/:id (admin), without the key.
func (a *API) GetChannel(c *gin.Context) {
	id, err := idParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	ch, err := a.Store.GetChannel(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return
	}
	respond(c, withoutKey(a.withPendingChannel(ch)))
}

func withoutKey(ch *model.Channel) *model.Channel {
	ch.Key = ""
	return ch
}

// channelRequest is the body of POST and PUT /api/channel/; absent fields
// are nil.
type channelRequest struct {
	ID           int     `json:"id"`
	Type         *int    `json:"type"`
	Name         *string `json:"name"`
	Key          *string `json:"key"`
	Status       *int    `json:"status"`
	BaseURL      *string `json:"base_url"`
	Other        *string `json:"other"`
	Models       *string `json:"models"`
	Group        *string `json:"group"`
	ModelMapping *string `json:"model_mapping"`
	Priority     *int64  `json:"priority"`
	Weight       *uint   `json:"weight"`
	Config       *string `json:"config"`
	SystemPrompt *string `json:"system_prompt"`
}

// apply copies the given fields onto ch, validates them and returns the
// columns they fill. An empty key keeps the stored one.
func (r *channelRequest) apply(ch *model.Channel) ([]string, error) {
	var cols []string
	var errs []error
	set := func(col string, given bool, assign func() error) {
		if given {
			cols = append(cols, col)
			errs = append(errs, assign())
		}
	}
	set("type", r.Type != nil, func() error {
		ch.Type = *r.Type
		if ch.Type <= 0 {
			return Errorf("type must be a channel type number such as 1 (OpenAI)")
		}
		return nil
	})
	set("name", r.Name != nil, func() error { ch.Name = *r.Name; return nil })
	set("key", r.Key != nil && *r.Key != "", func() error { ch.Key = *r.Key; return nil })
	set("status", r.Status != nil, func() error {
		ch.Status = *r.Status
		if ch.Status < model.ChannelEnabled || ch.Status > model.ChannelAutoDisabled {
			return Errorf("status must be 1 (enabled), 2 (disabled) or 3 (auto-disabled)")
		}
		return nil
	})
	set("base_url", r.BaseURL != nil, func() error { ch.BaseURL = r.BaseURL; return checkBaseURL(*r.BaseURL) })
	set("other", r.Other != nil, func() error { ch.Other = r.Other; return nil })
	set("models", r.Models != nil, func() error { ch.Models = *r.Models; return nil })
	set("group", r.Group != nil, func() error { ch.Group = *r.Group; return nil })
	set("model_mapping", r.ModelMapping != nil, func() error {
		ch.ModelMapping = r.ModelMapping
		return checkJSONObject("model_mapping", *r.ModelMapping, func(v any) bool { _, ok := v.(string); return ok })
	})
	set("priority", r.Priority != nil, func() error { ch.Priority = r.Priority; return nil })
	set("weight", r.Weight != nil, func() error { ch.Weight = r.Weight; return nil })
	set("config", r.Config != nil, func() error {
		ch.Config = *r.Config
		return checkJSONObject("config", *r.Config, func(any) bool { return true })
	})
	set("system_prompt", r.SystemPrompt != nil, func() error { ch.SystemPrompt = r.SystemPrompt; return nil })
	return cols, joinErrors(errs...)
}

func checkBaseURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Errorf("base_url must be an http(s) URL such as https://api.openai.com")
	}
	return nil
}

// checkJSONObject accepts "" or a JSON object whose values pass valueOK.
func checkJSONObject(field, s string, valueOK func(any) bool) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		return Errorf(field + " must be a JSON object: " + err.Error())
	}
	for k, v := range obj {
		if !valueOK(v) {
			return Errorf(fmt.Sprintf("%s: the value of %q has the wrong type", field, k))
		}
	}
	return nil
}

// CreateChannel is POST /api/channel/ (admin). As in one-api, a key field
// with several lines adds one channel per non-empty line. data is the
// created channel (a list when several were), without keys.
func (a *API) CreateChannel(c *gin.Context) {
	var req channelRequest
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	base := model.Channel{Status: model.ChannelEnabled, CreatedTime: time.Now().Unix()}
	if _, err := req.apply(&base); err != nil {
		fail(c, err)
		return
	}
	if base.Type == 0 {
		fail(c, Errorf("type is required"))
		return
	}
	var chs []*model.Channel
	for _, key := range strings.Split(base.Key, "\n") {
		if key = strings.TrimSpace(key); key != "" {
			ch := base
			ch.Key = key
			chs = append(chs, &ch)
		}
	}
	if len(chs) == 0 {
		fail(c, Errorf("key is required"))
		return
	}
	if err := a.Store.CreateChannels(c.Request.Context(), chs); err != nil {
		fail(c, err)
		return
	}
	a.channelsChanged(c.Request.Context())
	for _, ch := range chs {
		withoutKey(ch)
	}
	if len(chs) == 1 {
		respond(c, chs[0])
		return
	}
	respond(c, chs)
}

// UpdateChannel is PUT /api/channel/ (admin): the given fields change
// (status too); the abilities are rewritten from the result in the same
// transaction.
func (a *API) UpdateChannel(c *gin.Context) {
	var req channelRequest
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.ID <= 0 {
		fail(c, Errorf("id is required"))
		return
	}
	ch := &model.Channel{ID: req.ID}
	cols, err := req.apply(ch)
	if err != nil {
		fail(c, err)
		return
	}
	updated, err := a.Store.UpdateChannel(c.Request.Context(), ch, cols)
	if err != nil {
		fail(c, err)
		return
	}
	a.channelsChanged(c.Request.Context())
	respond(c, withoutKey(a.withPendingChannel(updated)))
}

// DeleteChannel is DELETE /api/channel/:id (admin), abilities included.
func (a *API) DeleteChannel(c *gin.Context) {
	id, err := idParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	if err := a.Store.DeleteChannel(c.Request.Context(), id); err != nil {
		fail(c, err)
		return
	}
	a.channelsChanged(c.Request.Context())
	respond(c, nil)
}
