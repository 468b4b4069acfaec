package common

import (
	"errors"
	"testing"
	"time"
)

func TestTracingEndpoint(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"off by default", nil, ""},
		{"base URL gets the traces path", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, "http://collector:4318/v1/traces"},
		{"traces URL is used as it is", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otel.example/api/traces"}, "https://otel.example/api/traces"},
		{"traces URL wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/v1/traces"}, "http://b:4318/v1/traces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			if c.Tracing.Endpoint != tt.want || c.Tracing.Enabled() != (tt.want != "") {
				t.Errorf("endpoint %q (enabled %t), want %q", c.Tracing.Endpoint, c.Tracing.Enabled(), tt.want)
			}
		})
	}
}

func TestConfigRefuses(t *testing.T) {
	for _, env := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "grpc://collector:4317"},
		{"SHUTDOWN_DELAY": "30"},                          // not less than the default SHUTDOWN_TIMEOUT
		{"SHUTDOWN_DELAY": "10", "SHUTDOWN_TIMEOUT": "5"}, // the delay is part of the timeout
		// Leases in use, refreshed less often than they expire.
		{"REDIS_CONN_STRING": "redis://r:6379/0", "BATCH_UPDATE_ENABLED": "true", "BATCH_UPDATE_INTERVAL": "60"},
		{"REDIS_CONN_STRING": "redis://r:6379/0", "BATCH_UPDATE_ENABLED": "true", "QUOTA_LEASE_TTL": "5"},
	} {
		_, err := LoadConfig(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		var envErr *EnvError
		if !errors.As(err, &envErr) {
			t.Errorf("%v: accepted (err %v)", env, err)
		}
	}
	c, err := LoadConfig(func(k string) (string, bool) {
		v, ok := map[string]string{"SHUTDOWN_DELAY": "5", "SHUTDOWN_TIMEOUT": "30"}[k]
		return v, ok
	})
	if err != nil || c.ShutdownDelay != 5*time.Second {
		t.Errorf("SHUTDOWN_DELAY=5: %v, %v", c, err)
	}
}

// QUOTA_LEASE_TTL only has to exceed the flush interval where leases are
// used: a single node with a long interval starts with the default TTL.
func TestQuotaLeaseTTLCheckedOnlyWhereUsed(t *testing.T) {
	for _, tt := range []struct {
		env    map[string]string
		leases bool
	}{
		{map[string]string{"BATCH_UPDATE_ENABLED": "true", "BATCH_UPDATE_INTERVAL": "120"}, false},
		{map[string]string{"REDIS_CONN_STRING": "redis://r:6379/0", "BATCH_UPDATE_ENABLED": "true", "BATCH_UPDATE_INTERVAL": "120", "QUOTA_LEASE_ENABLED": "false"}, false},
		{map[string]string{"REDIS_CONN_STRING": "redis://r:6379/0", "BATCH_UPDATE_ENABLED": "true", "BATCH_UPDATE_INTERVAL": "1", "QUOTA_LEASE_TTL": "2"}, true},
	} {
		c, err := LoadConfig(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
		if err != nil || c.UsesQuotaLeases() != tt.leases {
			t.Errorf("%v: %v, leases %v; want no error, leases %v", tt.env, err, c != nil && c.UsesQuotaLeases(), tt.leases)
		}
	}
}
