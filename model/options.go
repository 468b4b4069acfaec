package model

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"gorm.io/gorm/clause"
)

// Options is an immutable snapshot of the options table, parsed. A new
// snapshot replaces the old one atomically on every change, so readers on the
// relay path never lock and never see a half-applied update.
type Options struct {
	RetryTimes                     int
	PreConsumedQuota               int64
	QuotaPerUnit                   float64
	LogConsumeEnabled              bool
	AutomaticDisableChannelEnabled bool
	// ModelRatio, CompletionRatio and GroupRatio are JSON objects as stored;
	// empty means one-api's built-in defaults.
	ModelRatio      string
	CompletionRatio string
	GroupRatio      string
	// Raw holds every key as stored, including ones this gateway ignores.
	Raw map[string]string
}

// optionDefaults are one-api's defaults for the keys we interpret.
var optionDefaults = map[string]string{
	"RetryTimes":                     "0",
	"PreConsumedQuota":               "500",
	"QuotaPerUnit":                   "500000",
	"LogConsumeEnabled":              "true",
	"AutomaticDisableChannelEnabled": "false",
}

func parseOptions(raw map[string]string) (*Options, error) {
	get := func(k string) string {
		if v, ok := raw[k]; ok {
			return v
		}
		return optionDefaults[k]
	}
	o := &Options{Raw: raw, ModelRatio: raw["ModelRatio"], CompletionRatio: raw["CompletionRatio"], GroupRatio: raw["GroupRatio"]}
	var err error
	if o.RetryTimes, err = strconv.Atoi(get("RetryTimes")); err != nil || o.RetryTimes < 0 {
		return nil, fmt.Errorf("option RetryTimes=%q: want a whole number >= 0", get("RetryTimes"))
	}
	if o.PreConsumedQuota, err = strconv.ParseInt(get("PreConsumedQuota"), 10, 64); err != nil || o.PreConsumedQuota < 0 {
		return nil, fmt.Errorf("option PreConsumedQuota=%q: want a whole number >= 0", get("PreConsumedQuota"))
	}
	if o.QuotaPerUnit, err = strconv.ParseFloat(get("QuotaPerUnit"), 64); err != nil || o.QuotaPerUnit <= 0 {
		return nil, fmt.Errorf("option QuotaPerUnit=%q: want a number > 0", get("QuotaPerUnit"))
	}
	if o.LogConsumeEnabled, err = strconv.ParseBool(get("LogConsumeEnabled")); err != nil {
		return nil, fmt.Errorf("option LogConsumeEnabled=%q: want true or false", get("LogConsumeEnabled"))
	}
	if o.AutomaticDisableChannelEnabled, err = strconv.ParseBool(get("AutomaticDisableChannelEnabled")); err != nil {
		return nil, fmt.Errorf("option AutomaticDisableChannelEnabled=%q: want true or false", get("AutomaticDisableChannelEnabled"))
	}
	return o, nil
}

// OptionStore keeps the current Options snapshot and writes changes through.
type OptionStore struct {
	store   *Store
	current atomic.Pointer[Options]

	mu         sync.Mutex // guards watchers and checks
	watchers   []func(*Options)
	validators []func(*Options) error
	onSet      []func(key string)
}

// NewOptionStore loads the options table. Values this gateway cannot parse
// are reported, and the defaults for them are kept, so an old database with
// an odd value still starts.
func NewOptionStore(ctx context.Context, s *Store) (*OptionStore, error) {
	os := &OptionStore{store: s}
	if err := os.Reload(ctx); err != nil {
		return nil, err
	}
	return os, nil
}

// Get returns the current snapshot; never nil after NewOptionStore.
func (o *OptionStore) Get() *Options { return o.current.Load() }

// Watch calls fn with every new snapshot (and once now with the current one).
func (o *OptionStore) Watch(fn func(*Options)) {
	o.mu.Lock()
	o.watchers = append(o.watchers, fn)
	o.mu.Unlock()
	fn(o.Get())
}

// Check registers fn to vet every snapshot Set is about to store (e.g. that
// a ratio table parses); an error refuses the change.
func (o *OptionStore) Check(fn func(*Options) error) {
	o.mu.Lock()
	o.validators = append(o.validators, fn)
	o.mu.Unlock()
}

// OnSet registers fn to be told of every change Set stored (not of
// Reloads): the cluster publishes it so that other nodes reload.
func (o *OptionStore) OnSet(fn func(key string)) {
	o.mu.Lock()
	o.onSet = append(o.onSet, fn)
	o.mu.Unlock()
}

// Reload reads the table again (also used after another node changed it).
func (o *OptionStore) Reload(ctx context.Context) error {
	var rows []Option
	if err := o.store.db.WithContext(ctx).Find(&rows).Error; err != nil {
		return fmt.Errorf("load options: %w", err)
	}
	raw := make(map[string]string, len(rows))
	for _, r := range rows {
		raw[r.Key] = r.Value
	}
	opts, err := parseOptions(raw)
	if err != nil {
		return err
	}
	o.publish(opts)
	return nil
}

// Set validates and stores one option, then publishes a new snapshot.
func (o *OptionStore) Set(ctx context.Context, key, value string) error {
	o.mu.Lock()
	checks := append([]func(*Options) error{}, o.validators...)
	cur := o.Get()
	raw := make(map[string]string, len(cur.Raw)+1)
	for k, v := range cur.Raw {
		raw[k] = v
	}
	raw[key] = value
	opts, err := parseOptions(raw)
	if err != nil {
		o.mu.Unlock()
		return err
	}
	o.mu.Unlock()
	for _, check := range checks {
		if err := check(opts); err != nil {
			return fmt.Errorf("option %s: %w", key, err)
		}
	}
	err = o.store.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"value"}),
	}).Create(&Option{Key: key, Value: value}).Error
	if err != nil {
		return fmt.Errorf("save option %s: %w", key, err)
	}
	o.publish(opts)
	o.mu.Lock()
	hooks := append([]func(string){}, o.onSet...)
	o.mu.Unlock()
	for _, fn := range hooks {
		fn(key)
	}
	return nil
}

func (o *OptionStore) publish(opts *Options) {
	o.mu.Lock()
	o.current.Store(opts)
	ws := append([]func(*Options){}, o.watchers...)
	o.mu.Unlock()
	for _, w := range ws {
		w(opts)
	}
}
