package common

import (
	"net/url"
	"strings"
)

// TracingConfig is OpenTelemetry tracing, read from the standard OTEL_*
// variables so that an operator's existing collector settings apply as they
// are. Endpoint "" means tracing is off and costs nothing.
type TracingConfig struct {
	// Endpoint is the full OTLP/HTTP traces URL (…/v1/traces).
	Endpoint string
	// Sampler is an OTEL_TRACES_SAMPLER name; SamplerArg its ratio.
	Sampler     string
	SamplerArg  float64
	ServiceName string
}

// Enabled reports whether spans are exported.
func (t TracingConfig) Enabled() bool { return t.Endpoint != "" }

// Samplers are the OTEL_TRACES_SAMPLER values the gateway implements (the
// specification's built-in ones).
var Samplers = []string{"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

// loadTracing reads the OTEL_* variables. As the specification says,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as it is, while
// OTEL_EXPORTER_OTLP_ENDPOINT is a base URL that gets /v1/traces.
func loadTracing(e *EnvReader) TracingConfig {
	var t TracingConfig
	if v := e.String("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""); v != "" {
		if checkOTLPURL(e, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", v) {
			t.Endpoint = v
		}
	}
	if v := e.String("OTEL_EXPORTER_OTLP_ENDPOINT", ""); v != "" && checkOTLPURL(e, "OTEL_EXPORTER_OTLP_ENDPOINT", v) && t.Endpoint == "" {
		t.Endpoint = strings.TrimRight(v, "/") + "/v1/traces"
	}
	t.Sampler = e.Enum("OTEL_TRACES_SAMPLER", "parentbased_always_on", Samplers...)
	t.SamplerArg = e.Float("OTEL_TRACES_SAMPLER_ARG", 1, 0, 1)
	t.ServiceName = e.String("OTEL_SERVICE_NAME", "one-api")
	return t
}

func checkOTLPURL(e *EnvReader, name, v string) bool {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.fail(name, v, "an http:// or https:// URL such as http://127.0.0.1:4318")
		return false
	}
	return true
}
