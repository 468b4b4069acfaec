package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"one-api/common"
	"one-api/model"
	"one-api/relay/adaptor"
	"one-api/relay/channeltype"
)

// defaultAzureAPIVersion is used when a channel's config names none.
const defaultAzureAPIVersion = "2024-03-01-preview"

// Channel is everything the relay needs to know about one upstream channel,
// parsed once per Reload so that a request never reads the database.
type Channel struct {
	ID       int
	Type     int
	Name     string
	Status   int
	Key      string
	BaseURL  string            // no trailing slash; the type's default applied
	Mapping  map[string]string // model_mapping; nil when empty
	Version  string            // Azure api-version
	Weight   int               // as stored; see pick for how 0 counts
	Priority int64
	Models   []string // the channel's model list, in the order stored

	// pathPrefix replaces the client's "/v1" (channeltype.Info.PathPrefix)
	// and authHeader carries the key; adaptor is nil for the OpenAI
	// protocol, whose bodies pass through untouched.
	pathPrefix string
	authHeader channeltype.Auth
	adaptor    adaptor.Adaptor
	// unsupported: the type has no protocol here; never sent a request.
	unsupported bool
}

// upstreamModel is the model name this channel is sent for the client's name.
func (ch *Channel) upstreamModel(name string) string {
	if m := ch.Mapping[name]; m != "" {
		return m
	}
	return name
}

// tier is the channels of one priority serving one (group, model).
type tier struct {
	priority int64
	channels []*Channel
}

// Table is an immutable routing snapshot: Reload builds a new one and swaps
// it in, so readers never lock.
type Table struct {
	routes   map[string]map[string][]tier // group → model → tiers, highest priority first
	models   map[string][]string          // group → sorted model names served
	channels map[int]*Channel             // every channel, whatever its status
	// unsupported lists the channels of types this gateway cannot speak
	// to, for the start-up warning.
	unsupported []*Channel
}

// Channel returns the channel with id, whatever its status.
func (t *Table) Channel(id int) (*Channel, bool) {
	ch, ok := t.channels[id]
	return ch, ok
}

// Models returns the sorted models served for group.
func (t *Table) Models(group string) []string { return t.models[group] }

// Serves reports whether some enabled channel serves model for group.
func (t *Table) Serves(group, name string) bool { return len(t.routes[group][name]) > 0 }

// Lists reports whether any channel, enabled or not, lists model: a
// request for a model no channel has is a 404, one whose channels are all
// disabled (or serve other groups) a 503.
func (t *Table) Lists(name string) bool {
	for _, ch := range t.channels {
		if slices.Contains(ch.Models, name) {
			return true
		}
	}
	return false
}

// pick chooses a channel for (group, model) that is not in tried: the
// highest priority with an untried channel wins, and inside it the choice is
// random, weighted by weight. A weight of 0 (one-api's default, which one-api
// ignored and picked uniformly) counts as 1, so channels nobody weighted
// share traffic equally and a weighted channel is still preferred by its
// weight. When every channel was tried, the choice starts over, as one-api's
// retries would, so a single channel is retried too. intn is rand.IntN's
// shape.
func (t *Table) pick(group, name string, tried []int, intn func(int) int) *Channel {
	return t.pickIf(group, name, tried, intn, nil)
}

// pickIf is pick among the channels ok accepts (nil = all): a route that
// only some channel types can serve (the Responses API, Anthropic's
// Messages API) skips the others.
func (t *Table) pickIf(group, name string, tried []int, intn func(int) int, ok func(*Channel) bool) *Channel {
	tiers := t.routes[group][name]
	for _, tr := range tiers {
		if ch := pickWeighted(tr.channels, tried, intn, ok); ch != nil {
			return ch
		}
	}
	if len(tried) == 0 {
		return nil
	}
	for _, tr := range tiers {
		if ch := pickWeighted(tr.channels, nil, intn, ok); ch != nil {
			return ch
		}
	}
	return nil
}

func pickWeighted(chs []*Channel, tried []int, intn func(int) int, ok func(*Channel) bool) *Channel {
	total := 0
	for _, ch := range chs {
		if !slices.Contains(tried, ch.ID) && (ok == nil || ok(ch)) {
			total += effectiveWeight(ch)
		}
	}
	if total == 0 {
		return nil
	}
	n := intn(total)
	for _, ch := range chs {
		if slices.Contains(tried, ch.ID) || (ok != nil && !ok(ch)) {
			continue
		}
		if n -= effectiveWeight(ch); n < 0 {
			return ch
		}
	}
	return nil // unreachable: n < total
}

func effectiveWeight(ch *Channel) int {
	if ch.Weight <= 0 {
		return 1
	}
	return ch.Weight
}

// loadTable reads channels and enabled abilities and builds a Table. A
// channel is routed when it is enabled and its ability row is enabled; a
// channel whose model_mapping does not parse is left out with a warning
// rather than sent the wrong model name.
func loadTable(ctx context.Context, s *model.Store) (*Table, error) {
	rows, abilities, err := s.LoadRouting(ctx)
	if err != nil {
		return nil, err
	}
	t := &Table{
		routes:   make(map[string]map[string][]tier),
		models:   make(map[string][]string),
		channels: make(map[int]*Channel, len(rows)),
	}
	routable := make(map[int]bool, len(rows))
	for i := range rows {
		ch, err := newChannel(&rows[i])
		switch {
		case errors.Is(err, errUnsupportedType):
			t.unsupported = append(t.unsupported, ch)
		case err != nil:
			common.Warn("channel #%d not routed: %v", rows[i].ID, err)
		}
		t.channels[ch.ID] = ch
		routable[ch.ID] = err == nil && ch.Status == model.ChannelEnabled
	}
	for _, a := range abilities {
		if !routable[a.ChannelID] {
			continue
		}
		ch := t.channels[a.ChannelID]
		byModel := t.routes[a.Group]
		if byModel == nil {
			byModel = make(map[string][]tier)
			t.routes[a.Group] = byModel
		}
		byModel[a.Model] = addToTier(byModel[a.Model], ch)
	}
	for group, byModel := range t.routes {
		names := make([]string, 0, len(byModel))
		for name, tiers := range byModel {
			names = append(names, name)
			// Sorting by id makes the weighted walk, and so a seeded test,
			// independent of row order.
			for _, tr := range tiers {
				sort.Slice(tr.channels, func(i, j int) bool { return tr.channels[i].ID < tr.channels[j].ID })
			}
		}
		sort.Strings(names)
		t.models[group] = names
	}
	return t, nil
}

// addToTier inserts ch into the tier of its priority, keeping tiers sorted
// from the highest priority down.
func addToTier(tiers []tier, ch *Channel) []tier {
	for i := range tiers {
		if tiers[i].priority == ch.Priority {
			tiers[i].channels = append(tiers[i].channels, ch)
			return tiers
		}
	}
	tiers = append(tiers, tier{priority: ch.Priority, channels: []*Channel{ch}})
	sort.Slice(tiers, func(i, j int) bool { return tiers[i].priority > tiers[j].priority })
	return tiers
}

// errUnsupportedType marks a channel whose type has no adaptor: it is
// never routed (no request goes out in a protocol its upstream does not
// speak).
var errUnsupportedType = errors.New("not supported by this gateway")

type unsupportedError struct{ info channeltype.Info }

func (e unsupportedError) Error() string        { return channeltype.UnsupportedMessage(e.info) }
func (e unsupportedError) Is(target error) bool { return target == errUnsupportedType }

// channelConfig is the part of one-api's channels.config JSON the relay reads.
type channelConfig struct {
	APIVersion string `json:"api_version"`
}

// newChannel parses a channels row. It always returns a usable *Channel (so
// the forced-channel path can name it) and an error when the row cannot be
// routed.
func newChannel(row *model.Channel) (*Channel, error) {
	ch := &Channel{
		ID: row.ID, Type: row.Type, Name: row.Name, Status: row.Status, Key: row.Key,
		Models: splitList(row.Models),
	}
	if row.Weight != nil {
		ch.Weight = int(*row.Weight)
	}
	if row.Priority != nil {
		ch.Priority = *row.Priority
	}
	if row.BaseURL != nil {
		ch.BaseURL = strings.TrimRight(strings.TrimSpace(*row.BaseURL), "/")
	}
	info := channeltype.Lookup(ch.Type)
	if !info.Supported() {
		ch.unsupported = true
		return ch, unsupportedError{info}
	}
	ch.pathPrefix, ch.authHeader = info.PathPrefix, info.Auth
	ch.adaptor = adaptorFor(info.Protocol)
	if ch.BaseURL == "" {
		ch.BaseURL = strings.TrimRight(info.BaseURL, "/")
	}
	if ch.Type == model.ChannelAzure {
		ch.Version = defaultAzureAPIVersion
		// one-api v0.5 kept the Azure api-version in "other"; config wins.
		if row.Other != nil && strings.TrimSpace(*row.Other) != "" {
			ch.Version = strings.TrimSpace(*row.Other)
		}
		if strings.TrimSpace(row.Config) != "" {
			var cfg channelConfig
			if err := json.Unmarshal([]byte(row.Config), &cfg); err != nil {
				common.Warn("channel #%d: config is not JSON, using api-version %s", row.ID, ch.Version)
			} else if cfg.APIVersion != "" {
				ch.Version = cfg.APIVersion
			}
		}
	}
	if ch.BaseURL == "" {
		return ch, fmt.Errorf("no base_url")
	}
	if row.ModelMapping != nil {
		if m := strings.TrimSpace(*row.ModelMapping); m != "" && m != "{}" {
			if err := json.Unmarshal([]byte(m), &ch.Mapping); err != nil {
				return ch, fmt.Errorf("model_mapping is not a JSON object of strings: %w", err)
			}
		}
	}
	return ch, nil
}

// splitList splits one-api's comma-separated lists, dropping blanks.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
