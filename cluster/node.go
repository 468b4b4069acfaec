// Package cluster lets several gateway nodes share one database and one
// Redis (REDIS_CONN_STRING) as one gateway: an invalidation bus over Redis
// pub/sub carries every admin change (token, user, channel, option) to every
// node at once, and with batched quota updates each node spends leases it
// claims in the database (ledger.Batch.EnableLeases), or with
// QUOTA_LEASE_ENABLED=false the live balances move into Redis so that all
// nodes check one balance (ledger.Redis).
//
// Without REDIS_CONN_STRING, Setup returns a nil *Node, and every method of a
// nil *Node hands back what it was given: main wires the same code either way.
package cluster

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"one-api/common"
	"one-api/ledger"
	"one-api/model"
)

// DefaultPrefix starts every key and the pub/sub channel name, unless the
// connection string says otherwise with ?key_prefix=.
const DefaultPrefix = "oneapi:"

// connectTimeout bounds the first contact with Redis at start-up.
const connectTimeout = 5 * time.Second

// Node is this process's membership of the cluster.
type Node struct {
	// ID tells this node's messages from the others' and names its quota
	// leases: the host name and a random suffix, unique per process.
	ID string
	// Leases, when set (QUOTA_LEASE_ENABLED, the default), makes Ledger
	// turn a batch ledger into a lease ledger; LeaseTTL is QUOTA_LEASE_TTL.
	Leases   bool
	LeaseTTL time.Duration

	rdb     *redis.Client
	prefix  string
	channel string

	mu      sync.Mutex
	local   Local
	ps      *redis.PubSub
	cancel  context.CancelFunc
	workers sync.WaitGroup

	published, received, resyncs atomic.Int64
}

// Setup connects to cfg.RedisURL (REDIS_CONN_STRING). It returns nil and no
// error when Redis is not configured, and an error when it is configured but
// does not answer: a node that cannot see the others must not serve.
func Setup(ctx context.Context, cfg *common.Config) (*Node, error) {
	if cfg.RedisURL == "" {
		return nil, nil
	}
	n, err := Open(ctx, cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	n.Leases, n.LeaseTTL = cfg.BatchUpdate.Lease, cfg.BatchUpdate.LeaseTTL
	common.SysLog("cluster: redis connected (node %s, channel %s)", n.ID, n.channel)
	return n, nil
}

// Open connects to Redis at rawURL, a redis.ParseURL connection string that
// may carry one more query parameter, key_prefix (default "oneapi:"), so that
// several installs, or tests, can share one Redis.
func Open(ctx context.Context, rawURL string) (*Node, error) {
	connURL, prefix, err := splitPrefix(rawURL)
	if err != nil {
		return nil, err
	}
	opt, err := redis.ParseURL(connURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_CONN_STRING: %w", err)
	}
	rdb := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connect redis %s: %w", opt.Addr, err)
	}
	return &Node{ID: nodeID(), rdb: rdb, prefix: prefix, channel: prefix + "invalidate"}, nil
}

// nodeID is the host name (so an operator can tell whose leases a row of
// quota_leases holds) and a random suffix (two processes on one host, or a
// restarted one, are different nodes), at most 64 characters.
func nodeID() string {
	suffix := strings.ToLower(common.RandomString(12))
	host, err := os.Hostname()
	if err != nil || host == "" {
		return suffix
	}
	if len(host) > 50 {
		host = host[:50]
	}
	return host + "-" + suffix
}

// splitPrefix takes key_prefix out of the connection string (redis.ParseURL
// refuses parameters it does not know).
func splitPrefix(rawURL string) (connURL, prefix string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", fmt.Errorf("REDIS_CONN_STRING: %w", err)
	}
	q := u.Query()
	prefix = DefaultPrefix
	if q.Has("key_prefix") {
		prefix = q.Get("key_prefix")
		q.Del("key_prefix")
		u.RawQuery = q.Encode()
	}
	return u.String(), prefix, nil
}

// Ledger returns the quota ledger the relay charges through and the admin
// API's side of it. A *ledger.Batch spends leases it claims in the database
// (Leases) or, without them, gets its balances in Redis (one *ledger.Redis
// serves as both); any other ledger is returned as it is: ledger.Direct's
// conditional SQL updates are already exact across nodes.
func (n *Node) Ledger(ctx context.Context, l model.QuotaLedger, admin model.QuotaAdmin) (model.QuotaLedger, model.QuotaAdmin, error) {
	b, ok := l.(*ledger.Batch)
	if n == nil || !ok {
		return l, admin, nil
	}
	if n.Leases {
		if err := b.EnableLeases(ctx, ledger.LeaseOptions{Node: n.ID, TTL: n.LeaseTTL}); err != nil {
			return nil, nil, err
		}
		common.SysLog("cluster: quota leases enabled (node %s, lease ttl %s): quota is checked against leases claimed in the database, not in redis", n.ID, n.LeaseTTL)
		return b, b, nil
	}
	rl, err := ledger.NewRedis(b, n.rdb, ledger.RedisOptions{Prefix: n.prefix})
	if err != nil {
		return nil, nil, err
	}
	common.SysLog("cluster: quota balances are shared in redis")
	return rl, rl, nil
}

// Status is Redis connectivity for /api/status: "ok", "down: <error>", or
// "off" when Redis is not configured.
func (n *Node) Status(ctx context.Context) string {
	if n == nil {
		return "off"
	}
	if err := n.rdb.Ping(ctx).Err(); err != nil {
		return "down: " + err.Error()
	}
	return "ok"
}

// Ping checks that Redis answers; nil on a nil Node (no Redis configured).
func (n *Node) Ping(ctx context.Context) error {
	if n == nil {
		return nil
	}
	return n.rdb.Ping(ctx).Err()
}

// Stats are the bus's counters, for metrics and tests.
type Stats struct {
	Published int64 // messages sent
	Received  int64 // messages from other nodes applied
	Resyncs   int64 // full invalidations after the subscription came back
}

// Stats returns the counters (zero for a nil Node).
func (n *Node) Stats() Stats {
	if n == nil {
		return Stats{}
	}
	return Stats{Published: n.published.Load(), Received: n.received.Load(), Resyncs: n.resyncs.Load()}
}

// Close stops listening and closes the Redis connections. Call it after the
// HTTP server has drained (the ledger needs Redis until then).
func (n *Node) Close(context.Context) error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	cancel, ps := n.cancel, n.ps
	n.mu.Unlock()
	if cancel != nil {
		cancel()
		// Closing the subscription's connection ends a blocked Receive.
		ps.Close()
		n.workers.Wait()
	}
	if err := n.rdb.Close(); err != nil {
		return fmt.Errorf("close redis: %w", err)
	}
	return nil
}

// CheckURL reports whether rawURL is a connection string Open accepts,
// without connecting: --check-config and start-up run it before anything
// else.
func CheckURL(rawURL string) error {
	connURL, _, err := splitPrefix(rawURL)
	if err != nil {
		return err
	}
	if _, err := redis.ParseURL(connURL); err != nil {
		return fmt.Errorf("REDIS_CONN_STRING: %w", err)
	}
	return nil
}
