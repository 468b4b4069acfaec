package tracing

import (
	"net/http"
	"testing"

	"one-api/common"
)

func TestResponseModel(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06","choices":[]}`, "gpt-4o-2024-08-06"},
		{`data: {"id":"c1","model" : "gpt-3.5-turbo-0125","choices":[{"delta":{}}]}` + "\n\n", "gpt-3.5-turbo-0125"},
		{"{\n  \"model\":\n  \"text-embedding-3-small\"\n}", "text-embedding-3-small"},
		{`{"object":"list","data":[]}`, ""},
		{`{"model":null}`, ""},
		{`{"model":"unterminated`, ""},
		{`{"model"`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := responseModel([]byte(tt.in)); got != tt.want {
			t.Errorf("responseModel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzResponseModel(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-4o"}`))
	f.Add([]byte(`data: {"model" : "x"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m := responseModel(b); len(m) > 256 {
			t.Fatalf("model of %d bytes", len(m))
		}
	})
}

func TestOperation(t *testing.T) {
	for path, want := range map[string]string{
		"/v1/chat/completions":                        "chat",
		"/openai/deployments/gpt-4o/chat/completions": "chat",
		"/v1/completions":                             "text_completion",
		"/v1/embeddings":                              "embeddings",
		"/v1/images/generations":                      "generations",
		"/v1/audio/transcriptions":                    "transcriptions",
		"/":                                           "request",
	} {
		if got := operation(path); got != want {
			t.Errorf("operation(%q) = %q, want %q", path, got, want)
		}
	}
}

// Off, tracing adds nothing: no tracer, and the transport is the caller's.
func TestOffIsNothing(t *testing.T) {
	tr, err := New(common.TracingConfig{Sampler: "parentbased_always_on", SamplerArg: 1}, "v")
	if tr != nil || err != nil {
		t.Fatalf("New without endpoint = %v, %v; want nil, nil", tr, err)
	}
	next := http.DefaultTransport
	if got := tr.Transport(next); got != next {
		t.Errorf("a nil Tracer wrapped the transport")
	}
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown of a nil Tracer: %v", err)
	}
}

func TestSampler(t *testing.T) {
	for _, name := range common.Samplers {
		if _, err := Sampler(name, 0.5); err != nil {
			t.Errorf("Sampler(%q): %v", name, err)
		}
	}
	if _, err := Sampler("jaeger_remote", 1); err == nil {
		t.Error("an unknown sampler was accepted")
	}
}
