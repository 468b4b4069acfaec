package tracing

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"one-api/metrics"
)

// sniffLimit is how much of a response body is kept to find its "model":
// OpenAI-style answers and stream chunks name it in their first few
// hundred bytes.
const sniffLimit = 4 << 10

// Transport wraps the upstream transport so that every attempt of a relay
// request (one with a metrics.RequestInfo in its context) is a client span,
// child of the request's span, and carries the trace context upstream in a
// traceparent header. The span ends when the relay closes the response body,
// after billing, so it has the attempt's whole duration and its token usage.
// A nil Tracer returns next itself.
func (t *Tracer) Transport(next http.RoundTripper) http.RoundTripper {
	if t == nil {
		return next
	}
	return &transport{t: t, next: next}
}

type transport struct {
	t    *Tracer
	next http.RoundTripper
}

func (tt *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	info := metrics.RequestInfoFrom(ctx)
	if info == nil {
		// Not a relay request (a channel test): no trace to continue.
		return tt.next.RoundTrip(req)
	}
	op := operation(req.URL.Path)
	name := op
	if info.Model != "" {
		name = op + " " + info.Model
	}
	ctx, span := tt.t.tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		semconv.GenAIOperationNameKey.String(op),
		semconv.GenAIRequestModel(info.Model),
		ChannelIDKey.Int(info.ChannelID),
		RetryKey.Int(max(info.Attempts-1, 0)),
		semconv.ServerAddress(req.URL.Hostname()),
	))
	// A RoundTripper must not change the caller's request: the header
	// goes on a copy.
	out := new(http.Request)
	*out = *req
	out.Header = req.Header.Clone()
	tt.t.prop.Inject(ctx, propagation.HeaderCarrier(out.Header))

	resp, err := tt.next.RoundTrip(out)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "upstream request failed")
		span.End()
		return nil, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	sb := &spanBody{ReadCloser: resp.Body, span: span, info: info, ok: resp.StatusCode/100 == 2}
	if span.IsRecording() {
		sb.prefix = make([]byte, 0, 512)
	}
	resp.Body = sb
	return resp, nil
}

// operation is the GenAI operation name of an upstream path (Azure's
// deployment paths end the same way as OpenAI's).
func operation(path string) string {
	switch {
	case strings.HasSuffix(path, "/chat/completions"):
		return "chat"
	case strings.HasSuffix(path, "/completions"):
		return "text_completion"
	case strings.HasSuffix(path, "/embeddings"):
		return "embeddings"
	}
	if i := strings.LastIndexByte(path, '/'); i >= 0 && i < len(path)-1 {
		return path[i+1:]
	}
	return "request"
}

// spanBody ends the attempt's span when the relay closes the body, adding
// the response model (found in the body's first bytes) and, for the
// successful attempt, the usage the relay billed.
type spanBody struct {
	io.ReadCloser
	span   trace.Span
	info   *metrics.RequestInfo
	ok     bool
	prefix []byte // nil when the span is not recorded
	ended  bool
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.prefix != nil && len(b.prefix) < sniffLimit {
		b.prefix = append(b.prefix, p[:min(n, sniffLimit-len(b.prefix))]...)
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	if b.ended {
		return err
	}
	b.ended = true
	if b.prefix != nil {
		if m := responseModel(b.prefix); m != "" {
			b.span.SetAttributes(semconv.GenAIResponseModel(m))
		}
		if b.ok {
			usageAttributes(b.span, b.info)
		}
	}
	b.span.End()
	return err
}

var modelKey = []byte(`"model"`)

// responseModel is the value of the first "model" key in b, "" if none.
func responseModel(b []byte) string {
	i := bytes.Index(b, modelKey)
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(b[i+len(modelKey):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return ""
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 || end > 256 {
		return ""
	}
	return string(rest[1 : 1+end])
}
