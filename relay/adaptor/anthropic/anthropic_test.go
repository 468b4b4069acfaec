package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"one-api/internal/golden"
	"one-api/relay/adaptor"
	"one-api/relay/adaptor/adaptortest"
	"one-api/relay/openai"
	"one-api/relay/sse"
)

// testState names everything deterministically, as the golden files need.
func testState(includeUsage bool) *adaptor.State {
	n := 0
	return &adaptor.State{Path: "/v1/chat/completions", Model: "claude-client-name", Created: 1700000000, IncludeUsage: includeUsage,
		NewID: func() string { n++; return fmt.Sprintf("id%d", n) }}
}

func TestConvertRequestGolden(t *testing.T) {
	for _, name := range []string{"chat_full", "chat_min"} {
		t.Run(name, func(t *testing.T) {
			in := golden.Read(t, name+".openai.json")
			up, err := Adaptor{}.ConvertRequest(adaptor.Request{Path: "/v1/chat/completions", Model: "claude-3-5-sonnet-20241022", Body: in})
			if err != nil {
				t.Fatal(err)
			}
			if up.Path != "/v1/messages" || up.Header.Get("anthropic-version") != Version {
				t.Errorf("path %q, anthropic-version %q", up.Path, up.Header.Get("anthropic-version"))
			}
			golden.Check(t, name+".anthropic.golden.json", golden.JSON(t, up.Body))
			// The Anthropic SDK reads what we send as a valid request.
			var p sdk.MessageNewParams
			if err := json.Unmarshal(up.Body, &p); err != nil {
				t.Fatalf("SDK cannot decode the request: %v", err)
			}
			if p.MaxTokens <= 0 || len(p.Messages) == 0 || string(p.Model) != "claude-3-5-sonnet-20241022" {
				t.Errorf("SDK read max_tokens %d, %d messages, model %q", p.MaxTokens, len(p.Messages), p.Model)
			}
		})
	}
}

func TestConvertRequestRules(t *testing.T) {
	var r Request
	up, err := Adaptor{}.ConvertRequest(adaptor.Request{Path: "/v1/chat/completions", Model: "m", Body: golden.Read(t, "chat_min.openai.json")})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(up.Body, &r); err != nil {
		t.Fatal(err)
	}
	if g, w := r.MaxTokens, 256; g != w {
		t.Errorf("max_tokens = %d, want max_completion_tokens %d", g, w)
	}
	if len(r.Messages) != 1 || len(r.Messages[0].Content) != 2 {
		t.Errorf("two user messages should merge into one turn: %+v", r.Messages)
	}
	if r.ToolChoice == nil || r.ToolChoice.Type != "any" {
		t.Errorf("tool_choice required → %+v, want any", r.ToolChoice)
	}
	up, err = Adaptor{}.ConvertRequest(adaptor.Request{Path: "/v1/chat/completions", Model: "m", Body: []byte(`{"model":"x","messages":[{"role":"user","content":"hi"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(up.Body, &r)
	if r.MaxTokens != DefaultMaxTokens {
		t.Errorf("max_tokens without a client value = %d, want one-api's %d", r.MaxTokens, DefaultMaxTokens)
	}
	for _, bad := range []string{`{"messages":[{"role":"wizard","content":"x"}]}`, `{"tool_choice":"sometimes","messages":[]}`, `not json`} {
		if _, err := (Adaptor{}).ConvertRequest(adaptor.Request{Path: "/v1/chat/completions", Body: []byte(bad)}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if _, err := (Adaptor{}).ConvertRequest(adaptor.Request{Path: "/v1/embeddings", Body: []byte(`{}`)}); !errors.Is(err, adaptor.ErrEndpoint) {
		t.Errorf("embeddings: err = %v, want ErrEndpoint", err)
	}
}

func TestConvertResponseGolden(t *testing.T) {
	for _, tc := range []struct {
		name            string
		prompt, compl   int
		finish, content string
	}{
		// prompt = input 2095 + cache creation 100 + cache read 1000.
		{"message_text", 3195, 503, "stop", "Hi! My name is Claude."},
		{"message_tool_use", 384, 93, "tool_calls", "I need to use get_weather, and the user wants SF, which is likely San Francisco, CA."},
		{"message_max_tokens", 12, 3, "length", "Once upon a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := golden.Read(t, tc.name+".anthropic.json")
			// The fixture is a valid Anthropic answer by the SDK's types.
			var m sdk.Message
			if err := json.Unmarshal(in, &m); err != nil || m.ID == "" || !m.JSON.Usage.Valid() {
				t.Fatalf("SDK decode: %v (%+v)", err, m)
			}
			out, u, ok, err := Adaptor{}.ConvertResponse(testState(false), in)
			if err != nil || !ok {
				t.Fatalf("ok %v, err %v", ok, err)
			}
			golden.Check(t, tc.name+".openai.golden.json", golden.JSON(t, out))
			if u.PromptTokens != tc.prompt || u.CompletionTokens != tc.compl || u.TotalTokens != tc.prompt+tc.compl {
				t.Errorf("usage = %+v, want %d + %d", u, tc.prompt, tc.compl)
			}
			if want := int(m.Usage.InputTokens + m.Usage.CacheCreationInputTokens + m.Usage.CacheReadInputTokens); u.PromptTokens != want {
				t.Errorf("prompt tokens %d, SDK's sum %d", u.PromptTokens, want)
			}
			var c openai.ChatCompletion
			_ = json.Unmarshal(out, &c)
			if c.Choices[0].FinishReason != tc.finish || c.Choices[0].Message.Content == nil || *c.Choices[0].Message.Content != tc.content {
				t.Errorf("choice = %+v", c.Choices[0])
			}
		})
	}
}

// convertStream runs an SSE fixture through the relay's reader and the
// converter, as the relay does, and returns what the client would read.
func convertStream(t testing.TB, in []byte, st *adaptor.State) (string, *StreamConverter, error) {
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
		wantErr       string
	}{
		{"stream_text", true, 25, 15, ""},
		{"stream_tool_use", false, 472, 89, ""},
		{"stream_error", true, 10, 1, "overloaded_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := golden.Read(t, tc.name+".anthropic.sse")
			sdkDecodesEvents(t, in)
			out, conv, err := convertStream(t, in, testState(tc.includeUsage))
			var ue *adaptor.UpstreamError
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (!errors.As(err, &ue) || ue.Err.Code != tc.wantErr):
				t.Fatalf("err = %v, want an upstream %s", err, tc.wantErr)
			}
			golden.Check(t, tc.name+".openai.golden.sse", []byte(out))
			u, ok := conv.Usage()
			if !ok || u.PromptTokens != tc.prompt || u.CompletionTokens != tc.compl {
				t.Errorf("usage = %+v (%v), want %d + %d", u, ok, tc.prompt, tc.compl)
			}
			if tc.wantErr == "" && !strings.HasSuffix(out, "data: [DONE]\n\n") {
				t.Errorf("stream does not end in [DONE]")
			}
			if g := strings.Contains(out, `"choices":[],"usage"`); g != tc.includeUsage && tc.wantErr == "" {
				t.Errorf("usage chunk present = %v, want %v", g, tc.includeUsage)
			}
		})
	}
}

// sdkDecodesEvents checks that every event of an SSE fixture is a valid
// Anthropic stream event by the SDK's types.
func sdkDecodesEvents(t *testing.T, in []byte) {
	t.Helper()
	rd := sse.NewReader(bytes.NewReader(in))
	for {
		ev, err := rd.Next()
		if err != nil {
			return
		}
		if string(ev.Name) == EventError {
			var e sdk.ErrorResponse
			if err := json.Unmarshal(ev.Data, &e); err != nil || e.Error.Type == "" {
				t.Errorf("SDK decode of error event: %v", err)
			}
			continue
		}
		if string(ev.Name) == EventPing {
			continue
		}
		var u sdk.MessageStreamEventUnion
		if err := json.Unmarshal(ev.Data, &u); err != nil || u.Type != string(ev.Name) {
			t.Errorf("SDK decode of %s: %v (type %q)", ev.Name, err, u.Type)
		}
	}
}

func TestStreamTruncated(t *testing.T) {
	in := golden.Read(t, "stream_text.anthropic.sse")
	cut := in[:bytes.Index(in, []byte("event: message_delta"))]
	if _, _, err := convertStream(t, cut, testState(false)); !errors.Is(err, adaptor.ErrTruncated) {
		t.Errorf("err = %v, want ErrTruncated for a stream without message_stop", err)
	}
}

func TestConvertError(t *testing.T) {
	for _, tc := range []struct {
		status     int
		body       string
		wantStatus int
		wantType   string
	}{
		{401, string(golden.Read(t, "error_auth.anthropic.json")), 401, "authentication_error"},
		{529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, 503, "overloaded_error"},
		{400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}}`, 400, "invalid_request_error"},
		{429, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, 429, "rate_limit_error"},
		{502, `<html>bad gateway</html>`, 502, openai.TypeUpstream},
	} {
		var e sdk.ErrorResponse
		if tc.wantType != openai.TypeUpstream {
			if err := json.Unmarshal([]byte(tc.body), &e); err != nil {
				t.Errorf("SDK decode %s: %v", tc.body, err)
			}
		}
		status, oe := Adaptor{}.ConvertError(tc.status, []byte(tc.body))
		if status != tc.wantStatus || oe.Type != tc.wantType || oe.Message == "" {
			t.Errorf("%d %s → %d %+v, want %d %s", tc.status, tc.body, status, oe, tc.wantStatus, tc.wantType)
		}
	}
	if s, _ := OpenAIError(http.StatusForbidden, []byte(`{"type":"error","error":{"type":"permission_error","message":"no"}}`)); s != 403 {
		t.Errorf("permission_error status %d, want 403 (not a dead key)", s)
	}
}

// FuzzStream feeds arbitrary events to the converter: it must not panic,
// and everything it emits must be a JSON chunk or [DONE].
func FuzzStream(f *testing.F) {
	adaptortest.FuzzStream(f, fixtures(f, "stream_text.anthropic.sse", "stream_tool_use.anthropic.sse", "stream_error.anthropic.sse"),
		func() adaptor.Stream { return NewStream(testState(true)) }, json.Valid)
}

// fixtures reads testdata files.
func fixtures(tb testing.TB, names ...string) [][]byte {
	var out [][]byte
	for _, name := range names {
		b, err := readFixture(name)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func readFixture(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", name))
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
	in := golden.Read(b, "message_tool_use.anthropic.json")
	st := testState(false)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := (Adaptor{}).ConvertResponse(st, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEvent is the cost of one text_delta event.
func BenchmarkStreamEvent(b *testing.B) {
	ev := []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, world"}}`)
	conv := NewStream(testState(false))
	emit := func([]byte) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := conv.Event(nil, ev, emit); err != nil {
			b.Fatal(err)
		}
	}
}
