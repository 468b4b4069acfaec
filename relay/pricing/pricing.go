// Package pricing holds the billing ratios and one-api's quota formulas. A
// Table is built once from one-api v0.6.11's default ratios plus the
// ModelRatio / CompletionRatio / GroupRatio options, and is never changed
// afterwards: readers share it without locks, and an option update builds a
// new Table that the caller swaps in.
package pricing

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"sync"

	"one-api/common"
)

const (
	// DefaultQuotaPerUnit is how many quota units make one US dollar.
	DefaultQuotaPerUnit = 500000
	// DefaultUnknownModelRatio is one-api's ratio for a model in no table.
	DefaultUnknownModelRatio = 30
	// DefaultGroupRatio is one-api's GroupRatio option default.
	DefaultGroupRatio = `{"default":1,"vip":1,"svip":1}`
)

// The default tables are one-api v0.6.11's built-in ModelRatio and, for each
// of those models, the CompletionRatio its GetCompletionRatio returned (its
// prefix rules evaluated); a copy of the team spec's file of the same name.
//
//go:embed oneapi-default-ratios.json
var defaultRatiosJSON []byte

type defaultRatios struct {
	model      map[string]float64
	completion map[string]float64
}

var loadDefaults = sync.OnceValues(func() (defaultRatios, error) {
	var file struct {
		Models []struct {
			Model           string  `json:"model"`
			ModelRatio      float64 `json:"model_ratio"`
			CompletionRatio float64 `json:"completion_ratio"`
		} `json:"models"`
	}
	if err := json.Unmarshal(defaultRatiosJSON, &file); err != nil {
		return defaultRatios{}, fmt.Errorf("parse embedded default ratios: %w", err)
	}
	d := defaultRatios{
		model:      make(map[string]float64, len(file.Models)),
		completion: make(map[string]float64, len(file.Models)),
	}
	for _, m := range file.Models {
		d.model[m.Model] = m.ModelRatio
		d.completion[m.Model] = m.CompletionRatio
	}
	return d, nil
})

// Overrides are the raw values of the ratio options (JSON objects of name to
// ratio, as one-api stores them in the options table). "" means unset.
type Overrides struct {
	ModelRatio      string
	CompletionRatio string
	GroupRatio      string // replaces DefaultGroupRatio when set
}

// Table answers ratio lookups. It is immutable once built; only the record
// of which unknown models were already warned about changes, and that is
// synchronised.
type Table struct {
	model        map[string]float64
	completion   map[string]float64
	group        map[string]float64
	unknownRatio float64
	warned       sync.Map // unknown model name -> struct{}
}

// New builds a Table from the defaults and the option overrides. As in
// one-api, ModelRatio and CompletionRatio entries override the defaults of
// the same name and leave the others in place. unknownRatio is the model
// ratio for a model in neither (one-api: DefaultUnknownModelRatio). A bad
// option value is an error: the caller keeps its previous Table.
func New(unknownRatio float64, o Overrides) (*Table, error) {
	if unknownRatio < 0 || math.IsNaN(unknownRatio) || math.IsInf(unknownRatio, 0) {
		return nil, fmt.Errorf("unknown model ratio %v: must be a non-negative number", unknownRatio)
	}
	d, err := loadDefaults()
	if err != nil {
		return nil, err
	}
	t := &Table{unknownRatio: unknownRatio}
	if t.model, err = merge(d.model, "ModelRatio", o.ModelRatio); err != nil {
		return nil, err
	}
	if t.completion, err = merge(d.completion, "CompletionRatio", o.CompletionRatio); err != nil {
		return nil, err
	}
	group := o.GroupRatio
	if group == "" {
		group = DefaultGroupRatio
	}
	if t.group, err = merge(nil, "GroupRatio", group); err != nil {
		return nil, err
	}
	return t, nil
}

// merge returns a copy of base with the entries of the option JSON applied.
func merge(base map[string]float64, option, value string) (map[string]float64, error) {
	var over map[string]float64
	if value != "" {
		if err := json.Unmarshal([]byte(value), &over); err != nil {
			return nil, fmt.Errorf("parse %s option: %w", option, err)
		}
	}
	m := make(map[string]float64, len(base)+len(over))
	for k, v := range base {
		m[k] = v
	}
	for k, v := range over {
		if v < 0 {
			return nil, fmt.Errorf("parse %s option: ratio for %q is negative (%v)", option, k, v)
		}
		m[k] = v
	}
	return m, nil
}

// ModelRatio returns the model's ratio and whether it is known. An unknown
// model gets the table's unknown-model ratio and one [WARN] line per name,
// so the operator can price it.
func (t *Table) ModelRatio(model string) (ratio float64, known bool) {
	if r, ok := t.model[model]; ok {
		return r, true
	}
	if _, dup := t.warned.LoadOrStore(model, struct{}{}); !dup {
		common.Warn("model ratio not found for %q: billing it at the default ratio %v; set it in the ModelRatio option", model, t.unknownRatio)
	}
	return t.unknownRatio, false
}

// CompletionRatio returns the price of a completion token relative to a
// prompt token; 1 for a model in no table.
func (t *Table) CompletionRatio(model string) float64 {
	if r, ok := t.completion[model]; ok {
		return r
	}
	return 1
}

// GroupRatio returns the multiplier of a user group; 1 for an unknown group,
// as in one-api.
func (t *Table) GroupRatio(group string) float64 {
	if r, ok := t.group[group]; ok {
		return r
	}
	return 1
}

// PreConsumeQuota is what one-api reserves before calling upstream:
// (PreConsumedQuota + prompt tokens + max_tokens) × ratio, truncated, where
// ratio = model ratio × group ratio and maxTokens is 0 when absent.
func PreConsumeQuota(preConsumedQuota int64, promptTokens, maxTokens int, ratio float64) int64 {
	return int64(float64(preConsumedQuota+int64(promptTokens)+int64(maxTokens)) * ratio)
}

// Quota is what a finished request costs, exactly as one-api v0.6.11
// computes it: ceil((prompt + completion × completionRatio) × modelRatio ×
// groupRatio), at least 1 when the ratio is not 0, and 0 when no tokens were
// used at all. The float operations are in one-api's order so results match
// to the unit.
func Quota(promptTokens, completionTokens int, modelRatio, completionRatio, groupRatio float64) int64 {
	if promptTokens+completionTokens == 0 {
		return 0 // one-api: nothing was used, some error happened
	}
	ratio := modelRatio * groupRatio
	quota := int64(math.Ceil((float64(promptTokens) + float64(completionTokens)*completionRatio) * ratio))
	if ratio != 0 && quota <= 0 {
		quota = 1
	}
	return quota
}

// Models returns every model with a ratio (the defaults and the ModelRatio
// option), sorted.
func (t *Table) Models() []string {
	names := make([]string, 0, len(t.model))
	for name := range t.model {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
