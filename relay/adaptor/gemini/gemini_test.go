package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"one-api/internal/golden"
	"one-api/relay/adaptor"
	"one-api/relay/adaptor/adaptortest"
	"one-api/relay/openai"
	"one-api/relay/sse"
)

func testState(path string, includeUsage bool) *adaptor.State {
	n := 0
	return &adaptor.State{Path: path, Model: "gemini-client-name", Created: 1700000000, IncludeUsage: includeUsage,
		NewID: func() string { n++; return fmt.Sprintf("id%d", n) }, PromptTokens: func() int { return 17 }}
}

func TestConvertRequestGolden(t *testing.T) {
	for _, tc := range []struct{ name, path, wantPath string }{
		{"chat_full", "/v1/chat/completions", "/v1beta/models/gemini-1.5-flash:generateContent"},
		{"embeddings", "/v1/embeddings", "/v1beta/models/gemini-1.5-flash:batchEmbedContents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up, err := Adaptor{}.ConvertRequest(adaptor.Request{Path: tc.path, Model: "gemini-1.5-flash", Body: golden.Read(t, tc.name+".openai.json")})
			if err != nil {
				t.Fatal(err)
			}
			if up.Path != tc.wantPath {
				t.Errorf("path = %q, want %q", up.Path, tc.wantPath)
			}
			golden.Check(t, tc.name+".gemini.golden.json", golden.JSON(t, up.Body))
		})
	}
	up, _ := Adaptor{}.ConvertRequest(adaptor.Request{Path: "/v1/chat/completions", Model: "gemini-2.0-flash", Stream: true,
		Body: []byte(`{"messages":[{"role":"user","content":"hi"}]}`)})
	if want := "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"; up.Path != want {
		t.Errorf("stream path = %q, want %q", up.Path, want)
	}
	if _, err := (Adaptor{}).ConvertRequest(adaptor.Request{Path: "/v1/completions", Body: []byte(`{}`)}); !errors.Is(err, adaptor.ErrEndpoint) {
		t.Errorf("completions: err = %v, want ErrEndpoint", err)
	}
}

func TestToolChoice(t *testing.T) {
	for in, want := range map[string]string{
		`"required"`: `{"functionCallingConfig":{"mode":"ANY"}}`,
		`"none"`:     `{"functionCallingConfig":{"mode":"NONE"}}`,
		`{"type":"function","function":{"name":"f"}}`: `{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}}`,
	} {
		tc, err := toolConfig(json.RawMessage(in))
		if err != nil {
			t.Fatal(err)
		}
		if g, _ := json.Marshal(tc); string(g) != want {
			t.Errorf("%s → %s, want %s", in, g, want)
		}
	}
}

func TestConvertResponseGolden(t *testing.T) {
	for _, tc := range []struct {
		name, path    string
		prompt, compl int
		finish        string
	}{
		{"content_text", "/v1/chat/completions", 8, 20, "stop"},
		{"content_function_call", "/v1/chat/completions", 72, 20, "tool_calls"}, // 14 + 6 thinking
		{"content_blocked", "/v1/chat/completions", 9, 0, "content_filter"},
		{"embeddings", "/v1/embeddings", 17, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, u, ok, err := Adaptor{}.ConvertResponse(testState(tc.path, false), golden.Read(t, tc.name+".gemini.json"))
			if err != nil || !ok {
				t.Fatalf("ok %v, err %v", ok, err)
			}
			golden.Check(t, tc.name+".openai.golden.json", golden.JSON(t, out))
			if u.PromptTokens != tc.prompt || u.CompletionTokens != tc.compl {
				t.Errorf("usage = %+v, want %d + %d", u, tc.prompt, tc.compl)
			}
			if tc.finish != "" {
				var c openai.ChatCompletion
				_ = json.Unmarshal(out, &c)
				if c.Choices[0].FinishReason != tc.finish {
					t.Errorf("finish_reason = %q, want %q", c.Choices[0].FinishReason, tc.finish)
				}
			}
		})
	}
}

func convertStream(in []byte, st *adaptor.State) (string, *StreamConverter, error) {
	conv := NewStream(st)
	var out bytes.Buffer
	emit := func(p []byte) error { fmt.Fprintf(&out, "data: %s\n\n", p); return nil }
	rd := sse.NewReader(bytes.NewReader(in))
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			err := conv.End(emit)
			return out.String(), conv, err
		}
		if err != nil {
			return out.String(), conv, err
		}
		if err := conv.Event(ev.Name, ev.Data, emit); err != nil {
			return out.String(), conv, err
		}
	}
}

func TestStreamGolden(t *testing.T) {
	for _, tc := range []struct {
		name          string
		includeUsage  bool
		prompt, compl int
		finish        string
	}{
		{"stream_text", true, 8, 6, "stop"},
		{"stream_function_call", false, 72, 14, "tool_calls"},
		{"stream_safety", true, 11, 3, "content_filter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, conv, err := convertStream(golden.Read(t, tc.name+".gemini.sse"), testState("/v1/chat/completions", tc.includeUsage))
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name+".openai.golden.sse", []byte(out))
			if u, ok := conv.Usage(); !ok || u.PromptTokens != tc.prompt || u.CompletionTokens != tc.compl {
				t.Errorf("usage = %+v (%v), want %d + %d", u, ok, tc.prompt, tc.compl)
			}
			if !strings.Contains(out, `"finish_reason":"`+tc.finish+`"`) || !strings.HasSuffix(out, "data: [DONE]\n\n") {
				t.Errorf("want finish_reason %s and [DONE]", tc.finish)
			}
			if g := strings.Contains(out, `"choices":[],"usage"`); g != tc.includeUsage {
				t.Errorf("usage chunk present = %v, want %v", g, tc.includeUsage)
			}
		})
	}
	in := golden.Read(t, "stream_text.gemini.sse")
	cut := in[:bytes.LastIndex(in, []byte("data:"))]
	if _, _, err := convertStream(cut, testState("/v1/chat/completions", false)); !errors.Is(err, adaptor.ErrTruncated) {
		t.Errorf("cut stream: err = %v, want ErrTruncated", err)
	}
}

func TestConvertError(t *testing.T) {
	for _, tc := range []struct {
		status     int
		body       string
		wantStatus int
		wantCode   string
	}{
		{400, string(golden.Read(t, "error_key.gemini.json")), 401, "invalid_api_key"},
		{429, `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}`, 429, "RESOURCE_EXHAUSTED"},
		{400, `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified","status":"INVALID_ARGUMENT"}}`, 400, "INVALID_ARGUMENT"},
		{503, `upstream connect error`, 503, "bad_response_status_code"},
	} {
		status, e := Adaptor{}.ConvertError(tc.status, []byte(tc.body))
		if status != tc.wantStatus || e.Code != tc.wantCode || e.Message == "" {
			t.Errorf("%d %s → %d %+v, want %d %s", tc.status, tc.body, status, e, tc.wantStatus, tc.wantCode)
		}
	}
}

// FuzzStream: no panic, and only JSON chunks or [DONE] come out.
func FuzzStream(f *testing.F) {
	var seeds [][]byte
	for _, name := range []string{"stream_text.gemini.sse", "stream_function_call.gemini.sse", "stream_safety.gemini.sse"} {
		seeds = append(seeds, golden.Read(f, name))
	}
	adaptortest.FuzzStream(f, seeds, func() adaptor.Stream { return NewStream(testState("/v1/chat/completions", true)) }, json.Valid)
}

func BenchmarkConvertRequest(b *testing.B) {
	in := golden.Read(b, "chat_full.openai.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Adaptor{}).ConvertRequest(adaptor.Request{Path: "/v1/chat/completions", Model: "m", Body: in}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConvertResponse(b *testing.B) {
	in := golden.Read(b, "content_text.gemini.json")
	st := testState("/v1/chat/completions", false)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := (Adaptor{}).ConvertResponse(st, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEvent is the cost of one text event.
func BenchmarkStreamEvent(b *testing.B) {
	ev := []byte(`{"candidates": [{"content": {"parts": [{"text": " quick brown fox"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 8,"totalTokenCount": 8},"modelVersion": "gemini-2.0-flash"}`)
	conv := NewStream(testState("/v1/chat/completions", false))
	emit := func([]byte) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := conv.Event(nil, ev, emit); err != nil {
			b.Fatal(err)
		}
	}
}
