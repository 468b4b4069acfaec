package controller

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"one-api/common"
)

// optionView is one row of GET /api/option/.
type optionView struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// secretOption reports options one-api never lists (keys ending in Token or
// Secret: OAuth secrets, SMTP tokens and the like).
func secretOption(key string) bool {
	return strings.HasSuffix(key, "Token") || strings.HasSuffix(key, "Secret")
}

// ListOptions is GET /api/option/ (root): the stored options, by key,
// without secrets.
func (a *API) ListOptions(c *gin.Context) {
	raw := a.Options.Get().Raw
	out := make([]optionView, 0, len(raw))
	for k, v := range raw {
		if !secretOption(k) {
			out = append(out, optionView{Key: k, Value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	respond(c, out)
}

type optionRequest struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// UpdateOption is PUT /api/option/ (root) {"key","value"}: stored and
// published through the OptionStore, so it applies without a restart. The
// value may be a string, a number or a boolean.
func (a *API) UpdateOption(c *gin.Context) {
	var req optionRequest
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Key == "" {
		fail(c, Errorf("key is required"))
		return
	}
	value, ok := optionValue(req.Value)
	if !ok {
		fail(c, Errorf("value must be a string, a number or a boolean"))
		return
	}
	if err := a.Options.Set(c.Request.Context(), req.Key, value); err != nil {
		// Set's errors are either a value that does not parse or a failed
		// write; both are worth telling root, who alone gets here.
		common.Warn("update option %s: %v", req.Key, err)
		fail(c, Errorf(fmt.Sprintf("cannot set %s: %v", req.Key, err)))
		return
	}
	respond(c, nil)
}

// optionValue turns the JSON value into the string the options table
// stores: strings as they are, numbers and booleans as written.
func optionValue(raw json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	switch v.(type) {
	case float64, bool:
		return string(raw), true
	}
	return "", false
}
