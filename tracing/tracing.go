// Package tracing exports OpenTelemetry traces of relay requests over
// OTLP/HTTP: one server span per /v1 request (started by the HTTP
// middleware) and one client span per upstream attempt (started by the
// upstream transport), with the GenAI semantic-convention attributes, and
// the W3C trace context sent upstream. It is off unless an OTLP endpoint is
// configured; then a nil *Tracer is handed around and every method returns
// at once, so the relay path pays one nil check.
package tracing

import (
	"context"
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"one-api/common"
	"one-api/metrics"
)

// Attribute keys of our own, beside the semantic conventions'.
const (
	ChannelIDKey = attribute.Key("oneapi.channel.id")
	RetryKey     = attribute.Key("oneapi.retry.index")
	AttemptsKey  = attribute.Key("oneapi.attempts")
	RequestIDKey = attribute.Key("oneapi.request.id")
	// TTFTKey is a stream's time to first token in seconds. The GenAI
	// conventions define it as a metric only
	// (gen_ai.server.time_to_first_token); the span carries it under the
	// same name.
	TTFTKey = attribute.Key("gen_ai.server.time_to_first_token")
)

// Tracer starts the gateway's spans. A nil *Tracer is valid: tracing off.
type Tracer struct {
	tp   *sdktrace.TracerProvider
	tr   trace.Tracer
	prop propagation.TextMapPropagator
}

// New builds the tracer for cfg, exporting over OTLP/HTTP in batches; it
// returns nil when cfg has no endpoint.
func New(cfg common.TracingConfig, version string) (*Tracer, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(cfg.Endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	sampler, err := Sampler(cfg.Sampler, cfg.SamplerArg)
	if err != nil {
		return nil, err
	}
	// The SDK reports export failures through the global handler; without
	// this it would print through its own logger.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { common.Warn("tracing: %v", err) }))
	return NewWithProcessor(sdktrace.NewBatchSpanProcessor(exp), sampler, cfg.ServiceName, version), nil
}

// NewWithProcessor builds a tracer around any span processor (tests and
// benchmarks use a synchronous one).
func NewWithProcessor(sp sdktrace.SpanProcessor, sampler sdktrace.Sampler, service, version string) *Tracer {
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(service), semconv.ServiceVersion(version))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sp), sdktrace.WithSampler(sampler), sdktrace.WithResource(res))
	return &Tracer{
		tp:   tp,
		tr:   tp.Tracer("one-api", trace.WithInstrumentationVersion(version)),
		prop: propagation.TraceContext{},
	}
}

// Sampler maps an OTEL_TRACES_SAMPLER name and its argument to a sampler.
func Sampler(name string, arg float64) (sdktrace.Sampler, error) {
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(arg), nil
	case "parentbased_always_on", "":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(arg)), nil
	}
	return nil, fmt.Errorf("tracing: unknown sampler %q", name)
}

// Shutdown exports the spans still queued and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// StartRequest starts the server span of a relay request, continuing the
// client's trace when its headers carry a W3C traceparent.
func (t *Tracer) StartRequest(ctx context.Context, h http.Header, method, route string) (context.Context, trace.Span) {
	ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(h))
	return t.tr.Start(ctx, method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(method), semconv.HTTPRoute(route)))
}

// EndRequest finishes a request span with the response status and what the
// relay learned (info may be nil).
func EndRequest(span trace.Span, status int, requestID string, info *metrics.RequestInfo) {
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if requestID != "" {
		span.SetAttributes(RequestIDKey.String(requestID))
	}
	if info != nil {
		if info.Model != "" {
			span.SetAttributes(semconv.GenAIRequestModel(info.Model))
		}
		if info.ChannelID != 0 {
			span.SetAttributes(ChannelIDKey.Int(info.ChannelID))
		}
		span.SetAttributes(AttemptsKey.Int(info.Attempts))
		usageAttributes(span, info)
	}
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// usageAttributes adds token usage and TTFT, when known.
func usageAttributes(span trace.Span, info *metrics.RequestInfo) {
	if info.PromptTokens > 0 || info.CompletionTokens > 0 {
		span.SetAttributes(semconv.GenAIUsageInputTokens(info.PromptTokens), semconv.GenAIUsageOutputTokens(info.CompletionTokens))
	}
	if info.TTFT > 0 {
		span.SetAttributes(TTFTKey.Float64(info.TTFT.Seconds()))
	}
}
