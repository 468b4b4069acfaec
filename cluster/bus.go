package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"one-api/common"
	"one-api/model"
)

const (
	// publishTimeout bounds a publish on the admin request path; a lost
	// message is caught by the safety nets below.
	publishTimeout = 2 * time.Second
	// pingEvery is how long the subscription may be silent before it is
	// pinged, so a dead connection is noticed and re-established.
	pingEvery = 15 * time.Second
	// reloadEvery is the safety net for channels and options (the token
	// cache has its TTL): a missed message is made good within it.
	reloadEvery = time.Minute
	maxBackoff  = 5 * time.Second
)

// Message kinds on the bus.
const (
	kindToken   = "token"
	kindUser    = "user"
	kindChannel = "channel"
	kindOption  = "option"
)

// message is one invalidation, as JSON on the channel.
type message struct {
	Node string `json:"node"`
	Kind string `json:"kind"`
	Key  string `json:"key,omitempty"`
	ID   int    `json:"id,omitempty"`
}

// Local is what a message changes on this node. Every field may be nil.
type Local struct {
	// Tokens is the token cache (TokenChanged, UserChanged; InvalidateAll
	// after a broken subscription when it has one).
	Tokens model.Invalidator
	// Ledger drops a user's in-memory balance (the batch ledger's fallback).
	Ledger interface{ Forget(userID int) }
	// Channels rebuilds the routing table (relay.Reload).
	Channels func(context.Context) error
	// Options reloads the options table (OptionStore.Reload).
	Options func(context.Context) error
}

// allInvalidator is a cache that can drop everything at once.
type allInvalidator interface{ InvalidateAll() }

// Start subscribes to the bus (confirmed before it returns) and applies
// other nodes' messages to local until Close. It returns the Invalidator the
// admin API should call: it applies a change here and publishes it. On a nil
// Node it returns local.Tokens.
func (n *Node) Start(ctx context.Context, local Local) (model.Invalidator, error) {
	if n == nil {
		return local.Tokens, nil
	}
	ps := n.rdb.Subscribe(ctx, n.channel)
	// The first reply confirms the subscription: from here on no message
	// is missed.
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, fmt.Errorf("subscribe %s: %w", n.channel, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n.mu.Lock()
	n.local, n.ps, n.cancel = local, ps, cancel
	n.mu.Unlock()
	n.workers.Add(2)
	go func() { defer n.workers.Done(); n.listen(runCtx, ps) }()
	go func() { defer n.workers.Done(); n.reloadLoop(runCtx) }()
	return invalidator{n: n, local: local.Tokens}, nil
}

// invalidator applies a change locally, then tells the other nodes.
type invalidator struct {
	n     *Node
	local model.Invalidator
}

func (i invalidator) TokenChanged(key string) {
	if i.local != nil {
		i.local.TokenChanged(key)
	}
	i.n.publish(message{Kind: kindToken, Key: key})
}

func (i invalidator) UserChanged(id int) {
	if i.local != nil {
		i.local.UserChanged(id)
	}
	i.n.publish(message{Kind: kindUser, ID: id})
}

// ChannelsChanged wraps the admin API's channel hook (relay.Reload): reload
// here, then tell the other nodes. On a nil Node it returns reload.
func (n *Node) ChannelsChanged(reload func(context.Context) error) func(context.Context) error {
	if n == nil {
		return reload
	}
	return func(ctx context.Context) error {
		err := reload(ctx)
		n.publish(message{Kind: kindChannel})
		return err
	}
}

// PublishChannels tells the other nodes that channels changed here without
// the admin API (the relay's auto-disable), this node having reloaded.
func (n *Node) PublishChannels(context.Context) {
	if n != nil {
		n.publish(message{Kind: kindChannel})
	}
}

// PublishOption tells the other nodes that option key changed here
// (OptionStore's set hook).
func (n *Node) PublishOption(key string) {
	if n != nil {
		n.publish(message{Kind: kindOption, Key: key})
	}
}

func (n *Node) publish(m message) {
	m.Node = n.ID
	b, err := json.Marshal(m)
	if err != nil {
		common.Error("cluster: encode %s message: %v", m.Kind, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if err := n.rdb.Publish(ctx, n.channel, b).Err(); err != nil {
		common.Warn("cluster: %s change not published, other nodes catch up within their cache TTL or %s: %v", m.Kind, reloadEvery, err)
		return
	}
	n.published.Add(1)
}

// listen applies messages until ctx ends. go-redis re-establishes a broken
// subscription on the next Receive; since messages sent meanwhile are lost,
// everything is invalidated once it is back.
func (n *Node) listen(ctx context.Context, ps *redis.PubSub) {
	broken := false
	backoff := 100 * time.Millisecond
	for {
		msg, err := ps.ReceiveTimeout(ctx, pingEvery)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !broken {
				// Silence: ask for a pong, which proves the connection.
				if perr := ps.Ping(ctx); perr == nil {
					continue
				}
			}
			if !broken {
				common.Warn("cluster: invalidation subscription lost (%v); reconnecting", err)
			}
			broken = true
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = 100 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if broken {
				broken = false
				common.SysLog("cluster: invalidation subscription back; dropping every cached token and reloading channels and options")
				n.resync(ctx)
			}
		case *redis.Message:
			n.apply(ctx, m.Payload)
		}
	}
}

// apply carries out another node's message.
func (n *Node) apply(ctx context.Context, payload string) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		common.Warn("cluster: ignoring a malformed message: %v", err)
		return
	}
	if m.Node == n.ID {
		return
	}
	n.received.Add(1)
	n.mu.Lock()
	local := n.local
	n.mu.Unlock()
	switch m.Kind {
	case kindToken:
		if local.Tokens != nil {
			local.Tokens.TokenChanged(m.Key)
		}
	case kindUser:
		if local.Tokens != nil {
			local.Tokens.UserChanged(m.ID)
		}
		if local.Ledger != nil {
			local.Ledger.Forget(m.ID)
		}
	case kindChannel:
		run(ctx, "reload channels", local.Channels)
	case kindOption:
		run(ctx, "reload options", local.Options)
	}
}

// resync is a full invalidation: what any missed message could have said.
func (n *Node) resync(ctx context.Context) {
	n.resyncs.Add(1)
	n.mu.Lock()
	local := n.local
	n.mu.Unlock()
	if all, ok := local.Tokens.(allInvalidator); ok {
		all.InvalidateAll()
	}
	run(ctx, "reload channels", local.Channels)
	run(ctx, "reload options", local.Options)
}

// reloadLoop re-reads channels and options now and then, in case a message
// was lost while the subscription looked healthy.
func (n *Node) reloadLoop(ctx context.Context) {
	t := time.NewTicker(reloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.mu.Lock()
			local := n.local
			n.mu.Unlock()
			run(ctx, "reload channels", local.Channels)
			run(ctx, "reload options", local.Options)
		}
	}
}

func run(ctx context.Context, what string, fn func(context.Context) error) {
	if fn == nil {
		return
	}
	if err := fn(ctx); err != nil && ctx.Err() == nil {
		common.Error("cluster: %s: %v", what, err)
	}
}
