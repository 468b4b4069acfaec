// Package relay is the gateway's hot path: it routes OpenAI-compatible
// requests to a channel chosen from an in-memory routing table, forwards them
// (streams event by event), retries on another channel when an attempt fails
// before the client saw a byte, disables channels whose key is dead, and
// bills each request exactly through model.QuotaLedger: reserve before the
// upstream call, settle on success, release on failure.
//
// A request reads nothing from the database: token facts come from a
// model.TokenStore (cached elsewhere), channels from the routing Table, and
// prices from a snapshot rebuilt when the options change.
package relay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"one-api/common"
	"one-api/middleware"
	"one-api/model"
	"one-api/relay/pricing"
	"one-api/tokenlimit"
)

// Config is what New needs. Every field but UnknownModelRatio, MaxBodyBytes,
// Rand and Biller is required.
type Config struct {
	Tokens  model.TokenStore
	Ledger  model.QuotaLedger
	Logs    model.LogSink
	Options *model.OptionStore
	Store   *model.Store
	// Biller, when set, charges a request and records its consume log in
	// one unit (model.GroupLedger: one transaction); nil = Ledger.Settle
	// then Logs.Record.
	Biller model.Biller
	// Client is the shared upstream client (common.NewHTTPClient). Its
	// Timeout, when set, is RELAY_TIMEOUT.
	Client *http.Client
	// UnknownModelRatio prices models missing from every ratio table
	// (UNKNOWN_MODEL_RATIO, default 30 as in one-api; 0 makes them free).
	UnknownModelRatio float64
	// MaxBodyBytes caps a request body (MAX_REQUEST_BODY_MB); 0 = 32 MiB.
	MaxBodyBytes int64
	// UpstreamMaxBodyBytes caps a non-stream upstream answer
	// (UPSTREAM_MAX_BODY_MB); 0 = 64 MiB. A larger one is a 502, not charged.
	UpstreamMaxBodyBytes int64
	// StreamingTimeout ends a stream whose upstream sent nothing for this
	// long (STREAMING_TIMEOUT); 0 = no limit.
	StreamingTimeout time.Duration
	// Rand returns a uniform int in [0, n); nil = math/rand/v2.IntN. Tests
	// inject a seeded source to make channel choice reproducible.
	Rand func(n int) int
	// ChannelsChanged, when set, is told after the relay changed channels
	// itself (auto-disable) and rebuilt its own table, so that other
	// gateway nodes rebuild theirs (cluster.Node.PublishChannels).
	ChannelsChanged func(ctx context.Context)
	// Limiter enforces the tokens' requests-per-minute limits in token
	// auth (tokenlimit.Local, or tokenlimit.Redis across nodes); nil = the
	// limits are not enforced.
	Limiter tokenlimit.Limiter
	// ChannelDisabled, when set, hears of each automatic disable (the
	// oneapi_channel_auto_disabled_total counter).
	ChannelDisabled func(id int)
}

// Relay serves /v1. Build it with New; it is safe for concurrent use.
type Relay struct {
	cfg    Config
	table  atomic.Pointer[Table]
	prices atomic.Pointer[prices]

	reloadMu sync.Mutex // serialises Reload so the newest build is stored last
	disabled sync.Map   // channel id → struct{}: auto-disable in progress or done
	// responses remembers which channel created a Responses API response.
	responses responseOwners

	// stopped is cancelled by EndInFlight; every attempt's context follows it.
	stopped  context.Context
	stop     context.CancelCauseFunc
	warnings attemptWarnings
	// counted is set once a response needed a local token count (its
	// upstream reported no usage); from then on streams load the tokenizer
	// at their start (prepareCount).
	counted atomic.Bool
}

// New checks cfg, loads the routing table and the price tables, and
// subscribes to option changes.
func New(ctx context.Context, cfg Config) (*Relay, error) {
	switch {
	case cfg.Tokens == nil, cfg.Ledger == nil, cfg.Logs == nil, cfg.Options == nil, cfg.Store == nil, cfg.Client == nil:
		return nil, errors.New("relay: Tokens, Ledger, Logs, Options, Store and Client are required")
	case cfg.UnknownModelRatio < 0:
		return nil, fmt.Errorf("relay: UnknownModelRatio %v < 0", cfg.UnknownModelRatio)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	if cfg.UpstreamMaxBodyBytes <= 0 {
		cfg.UpstreamMaxBodyBytes = 64 << 20
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.IntN
	}
	r := &Relay{cfg: cfg}
	r.stopped, r.stop = context.WithCancelCause(context.Background())
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	warnUnsupported(r.table.Load())
	// A ratio option that does not parse is refused before it is stored
	// (OptionStore.Check); the watcher keeps the previous tables for one
	// that got into the database some other way.
	cfg.Options.Check(func(o *model.Options) error {
		_, err := newPrices(o, cfg.UnknownModelRatio)
		return err
	})
	cfg.Options.Watch(func(o *model.Options) {
		p, err := newPrices(o, cfg.UnknownModelRatio)
		if err != nil {
			common.Warn("ratio options not applied, billing with the previous tables: %v", err)
			if r.prices.Load() != nil {
				return
			}
			if p, err = pricing.New(cfg.UnknownModelRatio, pricing.Overrides{}); err != nil {
				common.Error("build default ratio tables: %v", err)
				return
			}
		}
		r.prices.Store(p)
	})
	if r.prices.Load() == nil {
		return nil, errors.New("relay: no ratio tables")
	}
	return r, nil
}

// Reload rebuilds the routing table from the database and swaps it in. Call
// it after any channel change (the admin API's ChannelsChanged hook); the
// relay calls it itself after an auto-disable.
func (r *Relay) Reload(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	t, err := loadTable(ctx, r.cfg.Store)
	if err != nil {
		return fmt.Errorf("reload routing: %w", err)
	}
	r.table.Store(t)
	// A channel re-enabled by an admin may be disabled again later.
	r.disabled.Range(func(k, _ any) bool {
		if ch, ok := t.channels[k.(int)]; ok && ch.Status == model.ChannelEnabled {
			r.disabled.Delete(k)
		}
		return true
	})
	return nil
}

// Table returns the current routing snapshot.
func (r *Relay) Table() *Table { return r.table.Load() }

// TokenAuthConfig is the configuration of the token auth middleware that
// must guard the relay's routes: it reads the requested model through the
// relay's body cache, so the body is read and parsed once.
func (r *Relay) TokenAuthConfig() middleware.TokenAuthConfig {
	return middleware.TokenAuthConfig{Tokens: r.cfg.Tokens, Model: r.RequestModel, Limiter: r.cfg.Limiter}
}
