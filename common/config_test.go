package common_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"one-api/common"
)

// envOf is a lookup over a fixed environment.
func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigDefaults(t *testing.T) {
	c, err := common.LoadConfig(envOf())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"PORT", c.Port, 3000},
		{"SQLITE_PATH", c.SQLitePath, "one-api.db"},
		{"GIN_MODE", c.GinMode, "release"},
		{"NODE_TYPE", c.NodeType, "master"},
		{"dialect", c.Dialect(), "sqlite"},
		{"listen address", c.ListenAddr(), ":3000"},
		{"GLOBAL_API_RATE_LIMIT", c.GlobalAPIRateLimit, 480},
		{"GLOBAL_API_RATE_LIMIT_DURATION", c.GlobalAPIRateWindow, 3 * time.Minute},
		{"CRITICAL_RATE_LIMIT", c.CriticalRateLimit, 20},
		{"CRITICAL_RATE_LIMIT_DURATION", c.CriticalRateWindow, 20 * time.Minute},
		{"MAX_REQUEST_BODY_MB", c.MaxRequestBodyBytes, int64(32 << 20)},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 30 * time.Second},
		{"SQLITE_JOURNAL_MODE", c.SQLite.JournalMode, "WAL"},
		{"SQLITE_SYNCHRONOUS", c.SQLite.Synchronous, "NORMAL"},
		{"SQLITE_BUSY_TIMEOUT", c.SQLite.BusyTimeout, 5000},
		{"HTTP_KEEPALIVE", c.HTTP.KeepAlive, 90 * time.Second},
		{"HTTP_RESPONSE_HEADER_TIMEOUT", c.HTTP.ResponseHeaderTimeout, 300 * time.Second},
		{"LOG_BATCH_SIZE", c.LogBatch.Size, 50},
		{"LOCAL_CACHE_TTL", c.Cache.TTL, time.Minute},
		{"PPROF_HOST", c.Pprof.Host, "127.0.0.1"},
		{"generated session secret", len(c.SessionSecret) == 32 && c.SessionSecretGenerated, true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestConfigValues(t *testing.T) {
	c, err := common.LoadConfig(envOf(
		"PORT", "8080", "SQLITE_SYNCHRONOUS", "2", "SQLITE_JOURNAL_MODE", "delete",
		"GLOBAL_API_RATE_LIMIT", "0", "SESSION_SECRET", "fixed", "SQL_DSN", "postgres://u@h/db",
		"SQLITE_MAX_OPEN_CONNS", "2", "SQLITE_MAX_IDLE_CONNS", "9", "MAX_REQUEST_BODY_MB", "1",
	))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.SQLite.Synchronous != "FULL" || c.SQLite.JournalMode != "DELETE" || !c.SQLite.JournalModeSet {
		t.Errorf("port %d, synchronous %q, journal %q (set %v)", c.Port, c.SQLite.Synchronous, c.SQLite.JournalMode, c.SQLite.JournalModeSet)
	}
	if c.GlobalAPIRateLimit != 0 || c.SessionSecret != "fixed" || c.SessionSecretGenerated {
		t.Errorf("rate limit %d, secret %q generated %v", c.GlobalAPIRateLimit, c.SessionSecret, c.SessionSecretGenerated)
	}
	if c.Dialect() != "postgres" || c.SQLite.MaxIdleConns != 2 || c.MaxRequestBodyBytes != 1<<20 {
		t.Errorf("dialect %q, idle conns %d (want clamped to 2), body %d", c.Dialect(), c.SQLite.MaxIdleConns, c.MaxRequestBodyBytes)
	}
	for dsn, want := range map[string]string{"": "sqlite", "postgresql://x": "postgres", "root@tcp(h:3306)/db": "mysql"} {
		if g := common.DialectOf(dsn); g != want {
			t.Errorf("DialectOf(%q) = %q, want %q", dsn, g, want)
		}
	}
}

func TestConfigBadValueNamesVariable(t *testing.T) {
	tests := []struct{ name, value string }{
		{"SQLITE_JOURNAL_MODE", "FAST"},
		{"LOG_BATCH_SIZE", "-3"},
		{"HTTP_KEEPALIVE", "abc"},
		{"PORT", "0"},
		{"PORT", "70000"},
		{"GIN_MODE", "production"},
		{"LOCAL_CACHE_ENABLED", "maybe"},
		{"UNKNOWN_MODEL_RATIO", "NaN"},
		{"MAX_REQUEST_BODY_MB", "0"},
		{"RELAY_PROXY", "not a url"},
		{"NODE_TYPE", "primary"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := common.LoadConfig(envOf("PORT", "3000", tt.name, tt.value))
			var ee *common.EnvError
			if !errors.As(err, &ee) || ee.Name != tt.name || ee.Value != tt.value || ee.Accept == "" {
				t.Fatalf("err = %v, want an EnvError naming %s=%s and what is accepted", err, tt.name, tt.value)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.name) || !strings.Contains(msg, tt.value) || strings.Contains(msg, "\n") {
				t.Errorf("message %q, want one line naming the variable and the value", msg)
			}
		})
	}
}

// unsetForTest removes name from the environment until the test ends.
func unsetForTest(t *testing.T, name string) {
	t.Setenv(name, "") // registers the restore
	os.Unsetenv(name)
}

func TestLoadDotEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	content := "# comment\nPORT=4000\nSQLITE_PATH=/var/lib/one-api/dotenv.db\nexport GIN_MODE=debug\nLOG_BATCH_SIZE=\"75\"\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"SQLITE_PATH", "GIN_MODE", "LOG_BATCH_SIZE"} {
		unsetForTest(t, name)
	}
	t.Setenv("PORT", "5000") // the real environment wins

	if err := common.LoadDotEnv(path); err != nil {
		t.Fatal(err)
	}
	c, err := common.LoadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 5000 || c.SQLitePath != "/var/lib/one-api/dotenv.db" || c.GinMode != "debug" || c.LogBatch.Size != 75 {
		t.Errorf("port %d, sqlite %q, gin %q, batch %d; want 5000 (env), the rest from .env", c.Port, c.SQLitePath, c.GinMode, c.LogBatch.Size)
	}

	if err := common.LoadDotEnv(filepath.Join(dir, "missing.env")); err != nil {
		t.Errorf("missing file: %v, want nil", err)
	}
	if err := common.LoadDotEnv(""); err != nil {
		t.Errorf("no file: %v, want nil", err)
	}
	if err := common.LoadDotEnv(dir); err == nil {
		t.Error("a directory as .env loaded without error")
	}
}

func TestParseFlags(t *testing.T) {
	f, err := common.ParseFlags([]string{"--port", "8081", "--env-file", "prod.env"}, io.Discard)
	if err != nil || f.Port != 8081 || f.EnvFile != "prod.env" {
		t.Errorf("flags = %+v, %v", f, err)
	}
	if _, err := common.ParseFlags([]string{"--nope"}, io.Discard); !errors.Is(err, common.ErrUsage) {
		t.Errorf("unknown flag: err = %v, want ErrUsage", err)
	}
}
