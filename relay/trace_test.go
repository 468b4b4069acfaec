package relay_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"one-api/common"
	"one-api/model"
	"one-api/tracing"
)

// otlpCollector is an OTLP/HTTP trace endpoint in process: it decodes the
// exporter's protobuf requests the way a collector does.
type otlpCollector struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
	// service is the service.name resource attribute of the last request.
	service string
}

func newOTLPCollector(t *testing.T) *otlpCollector {
	c := &otlpCollector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP request %s %s (%s), want POST /v1/traces as protobuf", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Errorf("decode OTLP request: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			if v, ok := attr(rs.Resource.Attributes, "service.name"); ok {
				c.service = v.GetStringValue()
			}
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func attr(kvs []*commonpb.KeyValue, key string) (*commonpb.AnyValue, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// tracedUpstream fails every request on channel "bad" with a 500 and
// answers on "good", recording the traceparent each attempt carried.
func tracedUpstream(t *testing.T) (*httptest.Server, *sync.Map) {
	var seen sync.Map // path → traceparent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen.Store(r.Header.Get("Authorization")+" "+fmt.Sprint(strings.Contains(string(body), `"stream":true`)), r.Header.Get("Traceparent"))
		if r.Header.Get("Authorization") == "Bearer ck-bad" {
			http.Error(w, `{"error":{"message":"overloaded","type":"server_error"}}`, http.StatusInternalServerError)
			return
		}
		if strings.Contains(string(body), `"stream":true`) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-3.5-turbo-0125\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n")
			fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-3.5-turbo-0125\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9}}\n\n")
			fmt.Fprint(w, "data: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-3.5-turbo-0125","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":5,"total_tokens":16}}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

// TestTracesReachOTLPEndpoint sends a non-stream request whose first
// attempt fails over to a second channel, and a stream, through a gateway
// tracing to a real OTLP/HTTP endpoint, and checks the spans it receives: a
// server span per request continuing the client's trace, a client span per
// upstream attempt with channel, retry index, status and the GenAI
// attributes, and the trace context each attempt sent upstream.
func TestTracesReachOTLPEndpoint(t *testing.T) {
	col := newOTLPCollector(t)
	up, seen := tracedUpstream(t)
	tr, err := tracing.New(common.TracingConfig{Endpoint: col.srv.URL + "/v1/traces", Sampler: "parentbased_always_on",
		SamplerArg: 1, ServiceName: "one-api-test"}, "test")
	if err != nil || tr == nil {
		t.Fatalf("tracing.New: %v, %v", tr, err)
	}

	store := openStore(t, tempDB(t))
	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	user := &model.User{Username: "tr", Password: "x", Role: model.RoleCommon, Status: model.UserEnabled,
		Quota: 1e12, Group: "default", AffCode: "tr", AccessToken: "traceaccesstoken"}
	if err := store.Gorm().Create(user).Error; err != nil {
		t.Fatal(err)
	}
	if err := store.Gorm().Create(&model.Token{UserID: user.ID, Key: benchKey, Status: model.TokenEnabled, Name: "tr",
		ExpiredTime: -1, RemainQuota: 1e12}).Error; err != nil {
		t.Fatal(err)
	}
	if err := store.Gorm().Create(&model.Option{Key: "RetryTimes", Value: "1"}).Error; err != nil {
		t.Fatal(err)
	}
	url := up.URL
	high, low := int64(10), int64(0)
	chans := []*model.Channel{
		{Type: model.ChannelOpenAI, Key: "ck-bad", Status: model.ChannelEnabled, Name: "bad", BaseURL: &url, Models: "gpt-3.5-turbo", Group: "default", Priority: &high},
		{Type: model.ChannelOpenAI, Key: "ck-good", Status: model.ChannelEnabled, Name: "good", BaseURL: &url, Models: "gpt-3.5-turbo", Group: "default", Priority: &low},
	}
	if err := store.CreateChannels(ctx, chans); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, store, profile{metrics: true, tracer: tr})

	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, stream := range []bool{false, true} {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions",
			strings.NewReader(fmt.Sprintf(`{"model":"gpt-3.5-turbo","stream":%t,"messages":[{"role":"user","content":"hi"}]}`, stream)))
		req.Header.Set("Authorization", "Bearer sk-"+benchKey)
		req.Header.Set("Content-Type", "application/json")
		if !stream {
			req.Header.Set("Traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
		}
		w := httptest.NewRecorder()
		s.engine.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("stream=%t: status %d: %s", stream, w.Code, w.Body)
		}
	}
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown (flushes the exporter): %v", err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	if col.service != "one-api-test" {
		t.Errorf("service.name %q, want one-api-test", col.service)
	}
	var servers, attempts []*tracepb.Span
	for _, sp := range col.spans {
		switch sp.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			servers = append(servers, sp)
		case tracepb.Span_SPAN_KIND_CLIENT:
			attempts = append(attempts, sp)
		}
	}
	// Two requests: the first tried "bad" (500) then "good"; the stream
	// went to "bad" then "good" as well.
	if len(servers) != 2 || len(attempts) != 4 {
		t.Fatalf("got %d server and %d client spans, want 2 and 4", len(servers), len(attempts))
	}
	byTrace := map[string]*tracepb.Span{}
	for _, sp := range servers {
		byTrace[hex.EncodeToString(sp.TraceId)] = sp
		if sp.Name != "POST /v1/chat/completions" {
			t.Errorf("server span name %q", sp.Name)
		}
		wantAttrs(t, sp, map[string]any{"http.route": "/v1/chat/completions", "http.response.status_code": int64(200),
			"gen_ai.request.model": "gpt-3.5-turbo", "oneapi.attempts": int64(2)})
	}
	first := byTrace[clientTrace]
	if first == nil {
		t.Fatalf("no server span continues the client's trace %s", clientTrace)
	}
	if got := hex.EncodeToString(first.ParentSpanId); got != clientSpan {
		t.Errorf("server span parent %s, want the client's span %s", got, clientSpan)
	}
	wantAttrs(t, first, map[string]any{"gen_ai.usage.input_tokens": int64(11), "gen_ai.usage.output_tokens": int64(5)})

	for _, sp := range attempts {
		parent := byTrace[hex.EncodeToString(sp.TraceId)]
		if parent == nil || string(sp.ParentSpanId) != string(parent.SpanId) {
			t.Errorf("attempt span %q is not a child of its request's span", sp.Name)
			continue
		}
		retry := intAttr(sp, "oneapi.retry.index")
		if sp.Name != "chat gpt-3.5-turbo" {
			t.Errorf("attempt span name %q, want \"chat gpt-3.5-turbo\"", sp.Name)
		}
		want := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-3.5-turbo", "oneapi.channel.id": int64(1 + retry)}
		if retry == 0 {
			want["http.response.status_code"] = int64(500)
			if sp.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("failed attempt's status %v, want error", sp.Status)
			}
		} else {
			want["http.response.status_code"] = int64(200)
			want["gen_ai.response.model"] = "gpt-3.5-turbo-0125"
			if sp.TraceId != nil && hex.EncodeToString(sp.TraceId) == clientTrace {
				want["gen_ai.usage.input_tokens"], want["gen_ai.usage.output_tokens"] = int64(11), int64(5)
			} else {
				want["gen_ai.usage.input_tokens"], want["gen_ai.usage.output_tokens"] = int64(7), int64(2)
				if v, ok := attr(sp.Attributes, "gen_ai.server.time_to_first_token"); !ok || v.GetDoubleValue() <= 0 {
					t.Errorf("stream attempt has no time to first token")
				}
			}
		}
		wantAttrs(t, sp, want)
	}

	// Each attempt told the upstream its own span as the parent.
	for _, key := range []string{"Bearer ck-bad false", "Bearer ck-good false"} {
		v, _ := seen.Load(key)
		tp, _ := v.(string)
		if !strings.HasPrefix(tp, "00-"+clientTrace+"-") || strings.Contains(tp, clientSpan) {
			t.Errorf("%s: upstream got traceparent %q, want the client's trace with an attempt span as parent", key, tp)
		}
	}
}

func intAttr(sp *tracepb.Span, key string) int {
	v, _ := attr(sp.Attributes, key)
	return int(v.GetIntValue())
}

func wantAttrs(t *testing.T, sp *tracepb.Span, want map[string]any) {
	t.Helper()
	for k, w := range want {
		v, ok := attr(sp.Attributes, k)
		if !ok {
			t.Errorf("span %q: no attribute %s", sp.Name, k)
			continue
		}
		var got any
		switch w.(type) {
		case string:
			got = v.GetStringValue()
		case int64:
			got = v.GetIntValue()
		}
		if got != w {
			t.Errorf("span %q: %s = %v, want %v", sp.Name, k, got, w)
		}
	}
}
