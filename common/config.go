// Package common holds what every other package needs and nothing more: the
// typed configuration parsed once from the environment, the process logger and
// the shared upstream HTTP client.
package common

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/joho/godotenv"
)

// Config is every setting the gateway reads from the environment, parsed and
// validated once at start-up. Components receive the part they need.
type Config struct {
	Port       int
	ListenHost string
	// TrustedProxies may set X-Forwarded-For; empty = trust none, so a
	// client cannot forge its IP past rate limits and token subnets.
	TrustedProxies []string
	GinMode        string
	SessionSecret  string
	// SessionSecretGenerated is true when SESSION_SECRET was unset and a
	// random one is used (sessions then do not survive a restart).
	SessionSecretGenerated bool

	SQLitePath     string
	SQLDSN         string
	LogSQLDSN      string
	SQLMaxOpen     int
	SQLMaxIdle     int
	SQLMaxLifetime time.Duration
	NodeType       string // "master" or "slave"
	RedisURL       string

	InitialRootPassword    string
	InitialRootAccessToken string
	InitialRootToken       string

	GlobalAPIRateLimit  int           // requests per GlobalAPIRateWindow per IP on /api
	GlobalAPIRateWindow time.Duration // one-api: 180 s
	CriticalRateLimit   int           // login and other credential routes, per IP
	CriticalRateWindow  time.Duration // one-api: 20 min
	MaxRequestBodyBytes int64
	// ShutdownTimeout is the whole stop: drain, then end what is still in
	// flight and settle it, then flush and close (main's stop budget).
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long /readyz answers 503 before the listener
	// closes (SHUTDOWN_DELAY); it is spent inside ShutdownTimeout.
	ShutdownDelay     time.Duration
	UnknownModelRatio float64
	// ClientIdleTimeout closes client keep-alive connections idle this long.
	ClientIdleTimeout time.Duration
	// StreamingTimeout ends a stream upstream has sent nothing on for this
	// long; 0 = never.
	StreamingTimeout     time.Duration
	UpstreamMaxBodyBytes int64

	SQLite      SQLiteConfig
	HTTP        HTTPConfig
	LogBatch    LogBatchConfig
	Cache       CacheConfig
	BatchUpdate BatchUpdateConfig
	Pprof       PprofConfig
	Metrics     MetricsConfig
	Tracing     TracingConfig
}

// SQLiteConfig is Phase A's PRAGMA set (docs/configuration.md).
type SQLiteConfig struct {
	OptimizeEnabled bool
	// JournalModeSet / SynchronousSet say the operator set them explicitly:
	// they apply even when OptimizeEnabled is false.
	JournalMode       string
	JournalModeSet    bool
	Synchronous       string
	SynchronousSet    bool
	CacheSize         int
	MmapSize          int64
	TempStore         string
	BusyTimeout       int // ms
	WALAutoCheckpoint int // pages
	ForeignKeys       bool
	MaxOpenConns      int
	MaxIdleConns      int
}

// HTTPConfig tunes the one upstream transport.
type HTTPConfig struct {
	KeepAlive             time.Duration
	MaxIdleConns          int
	MaxIdleConnsPerHost   int
	MaxConnsPerHost       int
	DialTimeout           time.Duration
	TLSTimeout            time.Duration
	ResponseHeaderTimeout time.Duration
	IdleConnTimeout       time.Duration
	Proxy                 string        // RELAY_PROXY
	RelayTimeout          time.Duration // RELAY_TIMEOUT, 0 = none
}

// LogBatchConfig controls consume-log writing.
type LogBatchConfig struct {
	Enabled        bool
	Size           int
	FlushInterval  time.Duration
	ConsumeEnabled bool
	RetentionDays  int
}

// CacheConfig controls the local token cache.
type CacheConfig struct {
	Enabled bool
	TTL     time.Duration
}

// BatchUpdateConfig controls batched quota updates.
type BatchUpdateConfig struct {
	Enabled  bool
	Interval time.Duration
	// GroupCommit: without batching, concurrent requests' settlements and
	// consume logs share transactions, each request still waiting for its
	// own commit (GROUP_COMMIT_ENABLED, issue 19).
	GroupCommit bool
	// Lease: with REDIS_CONN_STRING, nodes check quota against leases
	// claimed in the database (QUOTA_LEASE_ENABLED) instead of Redis
	// counters; LeaseTTL is how long a silent node's claims live
	// (QUOTA_LEASE_TTL).
	Lease    bool
	LeaseTTL time.Duration
}

// PprofConfig controls the profiling listener.
type PprofConfig struct {
	Enabled bool
	Host    string
	Port    int
}

// MetricsConfig controls the metrics collector and request logging.
type MetricsConfig struct {
	Enabled              bool
	ResetInterval        time.Duration // 0 = never
	Public               bool          // /metrics without a token
	SlowRequestThreshold time.Duration
	AccessLog            bool
}

// Flags are the command-line switches.
type Flags struct {
	Port        int // 0 = not given
	CheckConfig bool
	EnvFile     string
}

// ErrUsage marks a bad command line or configuration: exit status 2.
var ErrUsage = errors.New("usage")

// ParseFlags parses the command line.
func ParseFlags(args []string, stderr io.Writer) (Flags, error) {
	var f Flags
	fs := flag.NewFlagSet("one-api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&f.Port, "port", 0, "listen port (overrides PORT)")
	fs.BoolVar(&f.CheckConfig, "check-config", false, "print the effective configuration and exit")
	fs.StringVar(&f.EnvFile, "env-file", ".env", "dotenv file loaded before the environment is read (missing is fine)")
	if err := fs.Parse(args); err != nil {
		return f, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return f, nil
}

// LoadDotEnv loads path into the process environment without overriding
// variables already set; a missing file is not an error.
func LoadDotEnv(path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := godotenv.Load(path); err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	return nil
}

// LoadConfig parses every variable from lookup (nil = process environment).
func LoadConfig(lookup func(string) (string, bool)) (*Config, error) {
	e := NewEnvReader(lookup)
	c := &Config{}
	const maxInt = math.MaxInt32

	c.Port = e.Int("PORT", 3000, 1, 65535)
	c.ListenHost = e.String("LISTEN_HOST", "")
	c.TrustedProxies = e.CIDRList("TRUSTED_PROXIES")
	c.GinMode = e.Enum("GIN_MODE", "release", "release", "debug", "test")
	c.SessionSecret = e.String("SESSION_SECRET", "")
	if c.SessionSecret == "" {
		c.SessionSecret = RandomString(32)
		c.SessionSecretGenerated = true
	}

	c.SQLitePath = e.String("SQLITE_PATH", "one-api.db")
	c.SQLDSN = e.String("SQL_DSN", "")
	c.LogSQLDSN = e.String("LOG_SQL_DSN", "")
	c.SQLMaxOpen = e.Int("SQL_MAX_OPEN_CONNS", 1000, 1, maxInt)
	c.SQLMaxIdle = e.Int("SQL_MAX_IDLE_CONNS", 100, 0, maxInt)
	c.SQLMaxLifetime = e.Seconds("SQL_MAX_LIFETIME", 60, 0, maxInt)
	c.NodeType = e.Enum("NODE_TYPE", "master", "master", "slave")
	c.RedisURL = e.String("REDIS_CONN_STRING", "")

	c.InitialRootPassword = e.String("INITIAL_ROOT_PASSWORD", "")
	c.InitialRootAccessToken = e.String("INITIAL_ROOT_ACCESS_TOKEN", "")
	if len(c.InitialRootAccessToken) > 32 {
		// one-api's access_token column is char(32).
		// The value is a secret: say only how long it is.
		e.fail("INITIAL_ROOT_ACCESS_TOKEN", fmt.Sprintf("(%d characters)", len(c.InitialRootAccessToken)), "at most 32 characters")
	}
	c.InitialRootToken = e.String("INITIAL_ROOT_TOKEN", "")

	c.GlobalAPIRateLimit = e.Int("GLOBAL_API_RATE_LIMIT", 480, 0, maxInt)
	c.GlobalAPIRateWindow = e.Seconds("GLOBAL_API_RATE_LIMIT_DURATION", 180, 1, maxInt)
	c.CriticalRateLimit = e.Int("CRITICAL_RATE_LIMIT", 20, 0, maxInt)
	c.CriticalRateWindow = e.Seconds("CRITICAL_RATE_LIMIT_DURATION", 1200, 1, maxInt)
	c.MaxRequestBodyBytes = int64(e.Int("MAX_REQUEST_BODY_MB", 32, 1, 4096)) << 20
	c.ShutdownTimeout = e.Seconds("SHUTDOWN_TIMEOUT", 30, 1, 3600)
	c.ShutdownDelay = e.Seconds("SHUTDOWN_DELAY", 0, 0, 3600)
	if c.ShutdownDelay > 0 && c.ShutdownDelay >= c.ShutdownTimeout {
		e.fail("SHUTDOWN_DELAY", fmt.Sprint(c.ShutdownDelay.Seconds()), "fewer seconds than SHUTDOWN_TIMEOUT, which it is part of")
	}
	c.UnknownModelRatio = e.Float("UNKNOWN_MODEL_RATIO", 30, 0, 1e6)
	c.ClientIdleTimeout = e.Seconds("CLIENT_IDLE_TIMEOUT", 60, 1, 86400)
	c.StreamingTimeout = e.Seconds("STREAMING_TIMEOUT", 120, 0, maxInt)
	c.UpstreamMaxBodyBytes = int64(e.Int("UPSTREAM_MAX_BODY_MB", 64, 1, 4096)) << 20

	s := &c.SQLite
	s.OptimizeEnabled = e.Bool("SQLITE_OPTIMIZE_ENABLED", true)
	s.JournalModeSet = e.IsSet("SQLITE_JOURNAL_MODE")
	s.JournalMode = e.Enum("SQLITE_JOURNAL_MODE", "WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "WAL", "OFF")
	s.SynchronousSet = e.IsSet("SQLITE_SYNCHRONOUS")
	s.Synchronous = normalizeSynchronous(e.Enum("SQLITE_SYNCHRONOUS", "NORMAL", "OFF", "NORMAL", "FULL", "EXTRA", "0", "1", "2", "3"))
	s.CacheSize = e.Int("SQLITE_CACHE_SIZE", -64000, math.MinInt32, maxInt)
	s.MmapSize = e.Int64("SQLITE_MMAP_SIZE", 268435456, 0, math.MaxInt64)
	s.TempStore = e.Enum("SQLITE_TEMP_STORE", "MEMORY", "DEFAULT", "FILE", "MEMORY")
	s.BusyTimeout = e.Int("SQLITE_BUSY_TIMEOUT", 5000, 0, maxInt)
	s.WALAutoCheckpoint = e.Int("SQLITE_WAL_AUTO_CHECKPOINT", 1000, 0, maxInt)
	s.ForeignKeys = e.Bool("SQLITE_FOREIGN_KEYS", false)
	s.MaxOpenConns = e.Int("SQLITE_MAX_OPEN_CONNS", 5, 1, 1024)
	s.MaxIdleConns = e.Int("SQLITE_MAX_IDLE_CONNS", 2, 0, 1024)

	h := &c.HTTP
	h.KeepAlive = e.Seconds("HTTP_KEEPALIVE", 90, 0, maxInt)
	h.MaxIdleConns = e.Int("HTTP_MAX_IDLE_CONNS", 100, 0, maxInt)
	h.MaxIdleConnsPerHost = e.Int("HTTP_MAX_IDLE_CONNS_PER_HOST", 20, 0, maxInt)
	h.MaxConnsPerHost = e.Int("HTTP_MAX_CONNS_PER_HOST", 0, 0, maxInt)
	h.DialTimeout = e.Seconds("HTTP_DIAL_TIMEOUT", 10, 1, maxInt)
	h.TLSTimeout = e.Seconds("HTTP_TLS_TIMEOUT", 10, 1, maxInt)
	h.ResponseHeaderTimeout = e.Seconds("HTTP_RESPONSE_HEADER_TIMEOUT", 300, 0, maxInt)
	h.IdleConnTimeout = e.Seconds("HTTP_IDLE_CONN_TIMEOUT", 90, 0, maxInt)
	h.Proxy = e.String("RELAY_PROXY", "")
	if h.Proxy != "" {
		// The schemes net/http's Transport can dial through (httpclient.go).
		if u, err := url.Parse(h.Proxy); err != nil || u.Host == "" ||
			(u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5" && u.Scheme != "socks5h") {
			e.fail("RELAY_PROXY", h.Proxy, "a proxy URL such as http://127.0.0.1:7890 or socks5://host:1080")
		}
	}
	h.RelayTimeout = e.Seconds("RELAY_TIMEOUT", 0, 0, maxInt)

	l := &c.LogBatch
	l.Enabled = e.Bool("LOG_BATCH_ENABLED", false)
	l.Size = e.Int("LOG_BATCH_SIZE", 50, 1, 10000)
	l.FlushInterval = e.Seconds("LOG_BATCH_FLUSH_INTERVAL", 5, 1, 3600)
	l.ConsumeEnabled = e.Bool("LOG_CONSUME_ENABLED", true)
	l.RetentionDays = e.Int("LOG_RETENTION_DAYS", 0, 0, 36500)

	c.Cache.Enabled = e.Bool("LOCAL_CACHE_ENABLED", true)
	c.Cache.TTL = e.Seconds("LOCAL_CACHE_TTL", 60, 1, 86400)

	c.BatchUpdate.Enabled = e.Bool("BATCH_UPDATE_ENABLED", false)
	c.BatchUpdate.Interval = e.Seconds("BATCH_UPDATE_INTERVAL", 5, 1, 3600)
	c.BatchUpdate.GroupCommit = e.Bool("GROUP_COMMIT_ENABLED", true)
	c.BatchUpdate.Lease = e.Bool("QUOTA_LEASE_ENABLED", true)
	c.BatchUpdate.LeaseTTL = e.Seconds("QUOTA_LEASE_TTL", 60, 1, 86400)
	if c.UsesQuotaLeases() && c.BatchUpdate.LeaseTTL <= c.BatchUpdate.Interval {
		// A claim must outlive the flushes that refresh it, or a live
		// node's leases would be taken from it.
		e.fail("QUOTA_LEASE_TTL", fmt.Sprint(c.BatchUpdate.LeaseTTL.Seconds()),
			fmt.Sprintf("more seconds than BATCH_UPDATE_INTERVAL (%g), which refreshes the leases", c.BatchUpdate.Interval.Seconds()))
	}

	c.Pprof.Enabled = e.Bool("PPROF_ENABLED", false)
	c.Pprof.Host = e.String("PPROF_HOST", "127.0.0.1")
	c.Pprof.Port = e.Int("PPROF_PORT", 6060, 1, 65535)

	m := &c.Metrics
	m.Enabled = e.Bool("METRICS_ENABLED", true)
	m.ResetInterval = e.Seconds("METRICS_RESET_INTERVAL", 3600, 0, maxInt)
	m.Public = e.Bool("METRICS_PUBLIC", false)
	m.SlowRequestThreshold = e.Millis("SLOW_REQUEST_THRESHOLD_MS", 3000, 0, maxInt)
	m.AccessLog = e.Bool("ACCESS_LOG_ENABLED", true)

	c.Tracing = loadTracing(e)

	if err := e.Err(); err != nil {
		return nil, err
	}
	if c.SQLite.MaxIdleConns > c.SQLite.MaxOpenConns {
		c.SQLite.MaxIdleConns = c.SQLite.MaxOpenConns
	}
	return c, nil
}

func normalizeSynchronous(v string) string {
	switch v {
	case "0":
		return "OFF"
	case "1":
		return "NORMAL"
	case "2":
		return "FULL"
	case "3":
		return "EXTRA"
	}
	return v
}

// UsesQuotaLeases reports whether quota is checked against leases recorded
// in the database: several nodes (REDIS_CONN_STRING) batching their quota
// (BATCH_UPDATE_ENABLED) with QUOTA_LEASE_ENABLED.
func (c *Config) UsesQuotaLeases() bool {
	return c.RedisURL != "" && c.BatchUpdate.Enabled && c.BatchUpdate.Lease
}

// Dialect names the main database: "sqlite", "postgres" or "mysql".
func (c *Config) Dialect() string { return DialectOf(c.SQLDSN) }

// DialectOf maps a DSN to its dialect the way one-api does: empty is SQLite,
// postgres:// is PostgreSQL, anything else is MySQL.
func DialectOf(dsn string) string {
	switch {
	case dsn == "":
		return "sqlite"
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "postgres"
	}
	return "mysql"
}

// ListenAddr is the main server's address.
func (c *Config) ListenAddr() string { return fmt.Sprintf("%s:%d", c.ListenHost, c.Port) }
