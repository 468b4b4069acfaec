package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"one-api/internal/golden"
	"one-api/relay/adaptor"
	"one-api/relay/adaptor/adaptortest"
	"one-api/relay/openai"
	"one-api/relay/sse"
)

func reverseState() *adaptor.State {
	n := 0
	return &adaptor.State{Path: "/v1/messages", Model: "claude-client-name", Created: 1700000000,
		NewID: func() string { n++; return fmt.Sprintf("id%d", n) }}
}

func TestReverseRequestGolden(t *testing.T) {
	for _, name := range []string{"messages_full", "messages_min"} {
		t.Run(name, func(t *testing.T) {
			in := golden.Read(t, name+".anthropic.json")
			// The fixture is a request Anthropic's SDK could have sent.
			var p sdk.MessageNewParams
			if err := json.Unmarshal(in, &p); err != nil || len(p.Messages) == 0 {
				t.Fatalf("SDK cannot decode the fixture: %v", err)
			}
			up, err := Reverse{}.ConvertRequest(adaptor.Request{Path: "/v1/messages", Model: "gpt-4o", Body: in})
			if err != nil {
				t.Fatal(err)
			}
			if up.Path != "/v1/chat/completions" {
				t.Errorf("path %q", up.Path)
			}
			golden.Check(t, name+".openai.golden.json", golden.JSON(t, up.Body))
		})
	}
}

// TestReverseRequestRules: each field's mapping, asserted on the decoded
// chat request.
func TestReverseRequestRules(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tools := `"tools":[{"name":"f","input_schema":{"type":"object"}}],`
	for _, tc := range []struct {
		name, body string
		mct        bool
		check      func(t *testing.T, r *openai.ChatRequest, raw string)
	}{
		{"tool_choice auto", `{` + tools + `"tool_choice":{"type":"auto"},` + msgs + `}`, false, func(t *testing.T, r *openai.ChatRequest, _ string) {
			if string(r.ToolChoice) != `"auto"` || r.ParallelToolCalls != nil {
				t.Errorf("tool_choice %s, parallel %v", r.ToolChoice, r.ParallelToolCalls)
			}
		}},
		{"tool_choice any", `{` + tools + `"tool_choice":{"type":"any"},` + msgs + `}`, false, func(t *testing.T, r *openai.ChatRequest, _ string) {
			if string(r.ToolChoice) != `"required"` {
				t.Errorf("tool_choice %s", r.ToolChoice)
			}
		}},
		{"tool_choice none", `{` + tools + `"tool_choice":{"type":"none","disable_parallel_tool_use":true},` + msgs + `}`, false, func(t *testing.T, r *openai.ChatRequest, _ string) {
			if string(r.ToolChoice) != `"none"` || r.ParallelToolCalls != nil {
				t.Errorf("tool_choice %s, parallel %v", r.ToolChoice, r.ParallelToolCalls)
			}
		}},
		{"tool_choice tool", `{` + tools + `"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true},` + msgs + `}`, false, func(t *testing.T, r *openai.ChatRequest, _ string) {
			if string(r.ToolChoice) != `{"type":"function","function":{"name":"f"}}` || r.ParallelToolCalls == nil || *r.ParallelToolCalls {
				t.Errorf("tool_choice %s, parallel %v", r.ToolChoice, r.ParallelToolCalls)
			}
		}},
		{"max_tokens", `{"max_tokens":77,` + msgs + `}`, false, func(t *testing.T, r *openai.ChatRequest, raw string) {
			if r.MaxTokens != 77 || strings.Contains(raw, "max_completion_tokens") {
				t.Errorf("max_tokens %d in %s", r.MaxTokens, raw)
			}
		}},
		{"max_completion_tokens", `{"max_tokens":77,` + msgs + `}`, true, func(t *testing.T, r *openai.ChatRequest, raw string) {
			if r.MaxCompletionTokens != 77 || strings.Contains(raw, `"max_tokens"`) {
				t.Errorf("max_completion_tokens %d in %s", r.MaxCompletionTokens, raw)
			}
		}},
		{"stream asks for usage", `{"stream":true,` + msgs + `}`, false, func(t *testing.T, r *openai.ChatRequest, _ string) {
			if !r.Stream || r.StreamOptions == nil || !r.StreamOptions.IncludeUsage {
				t.Errorf("stream %v, options %+v", r.Stream, r.StreamOptions)
			}
		}},
		{"no stream no options", `{` + msgs + `}`, false, func(t *testing.T, r *openai.ChatRequest, _ string) {
			if r.Stream || r.StreamOptions != nil || r.Stop != nil || r.User != "" || len(r.Tools) != 0 || r.ToolChoice != nil {
				t.Errorf("request = %+v", r)
			}
		}},
		{"server tools only", `{"tools":[{"type":"web_search_20250305","name":"web_search"}],"tool_choice":{"type":"auto"},` + msgs + `}`, false, func(t *testing.T, r *openai.ChatRequest, _ string) {
			if len(r.Tools) != 0 || r.ToolChoice != nil {
				t.Errorf("tools %+v, tool_choice %s: a server tool cannot run upstream", r.Tools, r.ToolChoice)
			}
		}},
		{"assistant tool calls only", `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"server_tool_use","id":"s1","name":"web_search","input":{}},{"type":"tool_use","id":"t1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1"}]}]}`, false, func(t *testing.T, r *openai.ChatRequest, _ string) {
			a, tool := r.Messages[1], r.Messages[2]
			if a.Content != nil || len(a.ToolCalls) != 1 || a.ToolCalls[0].Function.Arguments != "{}" || tool.Role != "tool" || tool.ToolCallID != "t1" || len(r.Messages) != 3 {
				t.Errorf("messages = %+v", r.Messages)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up, err := Reverse{MaxCompletionTokens: tc.mct}.ConvertRequest(adaptor.Request{Path: "/v1/messages", Model: "m", Body: []byte(tc.body)})
			if err != nil {
				t.Fatal(err)
			}
			var r openai.ChatRequest
			if err := json.Unmarshal(up.Body, &r); err != nil {
				t.Fatal(err)
			}
			if r.Model != "m" {
				t.Errorf("model %q, want the upstream's", r.Model)
			}
			tc.check(t, &r, string(up.Body))
		})
	}
	for _, bad := range []string{
		`not json`,
		`{"messages":[{"role":"wizard","content":"x"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","data":"x"}}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`,
		`{"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool"},"messages":[]}`,
		`{"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"sometimes"},"messages":[]}`,
		`{"system":42,"messages":[]}`,
	} {
		if _, err := (Reverse{}).ConvertRequest(adaptor.Request{Path: "/v1/messages", Body: []byte(bad)}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if _, err := (Reverse{}).ConvertRequest(adaptor.Request{Path: "/v1/chat/completions", Body: []byte(`{}`)}); !errors.Is(err, adaptor.ErrEndpoint) {
		t.Errorf("chat completions: err = %v, want ErrEndpoint", err)
	}
}

func TestReverseResponseGolden(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		prompt, completion       int
		input, cacheRead, output int64
		stop                     sdk.StopReason
		blocks                   string
	}{
		{"chat_text", 1117, 46, 93, 1024, 46, sdk.StopReasonEndTurn, "text"},
		{"chat_tool_calls", 82, 17, 82, 0, 17, sdk.StopReasonToolUse, "text tool_use tool_use"},
		{"chat_length", 12, 3, 12, 0, 3, sdk.StopReasonMaxTokens, "text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, u, ok, err := Reverse{}.ConvertResponse(reverseState(), golden.Read(t, tc.name+".openai.json"))
			if err != nil || !ok {
				t.Fatalf("ok %v, err %v", ok, err)
			}
			golden.Check(t, tc.name+".anthropic.golden.json", golden.JSON(t, out))
			if u.PromptTokens != tc.prompt || u.CompletionTokens != tc.completion || u.TotalTokens != tc.prompt+tc.completion {
				t.Errorf("billed usage = %+v, want %d + %d", u, tc.prompt, tc.completion)
			}
			var m sdk.Message
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, b := range m.Content {
				types = append(types, b.Type)
				if b.Type == "tool_use" {
					var in map[string]string
					if err := json.Unmarshal(b.Input, &in); err != nil || in["city"] == "" {
						t.Errorf("tool input %s not parsed: %v", b.Input, err)
					}
				}
			}
			if m.Type != "message" || !strings.HasPrefix(m.ID, "msg_") || m.Model != "claude-client-name" || m.StopReason != tc.stop ||
				strings.Join(types, " ") != tc.blocks {
				t.Errorf("message %s: id %q, model %q, stop %q, blocks %v", out, m.ID, m.Model, m.StopReason, types)
			}
			if m.Usage.InputTokens != tc.input || m.Usage.CacheReadInputTokens != tc.cacheRead || m.Usage.OutputTokens != tc.output {
				t.Errorf("usage = %+v, want input %d, cache read %d, output %d", m.Usage, tc.input, tc.cacheRead, tc.output)
			}
		})
	}
	for _, tc := range []struct{ finish, stop string }{
		{"stop", "end_turn"}, {"length", "max_tokens"}, {"tool_calls", "tool_use"}, {"function_call", "tool_use"},
		{"content_filter", "refusal"}, {"", "end_turn"},
	} {
		if g := StopReason(tc.finish); g != tc.stop {
			t.Errorf("StopReason(%q) = %q, want %q", tc.finish, g, tc.stop)
		}
	}
}

// reverseStream runs an OpenAI SSE fixture through the relay's reader
// (which keeps [DONE] from converters) and the converter, and returns what
// the client reads.
func reverseStream(t testing.TB, in []byte) (string, *ReverseStream, error) {
	conv := NewReverseStream(reverseState())
	var out bytes.Buffer
	emit := func(p []byte) error {
		if !bytes.Equal(p, adaptor.Done) {
			fmt.Fprintf(&out, "event: %s\ndata: %s\n\n", openai.EventType(p), p)
		}
		return nil
	}
	rd := sse.NewReader(bytes.NewReader(in))
	for {
		ev, err := rd.Next()
		switch {
		case errors.Is(err, io.EOF):
			err := conv.End(emit)
			return out.String(), conv, err
		case err != nil:
			return out.String(), conv, err
		case ev.Done:
			continue
		}
		if err := conv.Event(ev.Name, ev.Data, emit); err != nil {
			return out.String(), conv, err
		}
	}
}

// TestReverseStreamGolden: the events are valid by Anthropic's SDK and its
// accumulator rebuilds the whole message from them.
func TestReverseStreamGolden(t *testing.T) {
	for _, tc := range []struct {
		name               string
		prompt, completion int
		haveUsage          bool
		stop               sdk.StopReason
		want               string // the accumulated content
	}{
		{"stream_text", 19, 10, true, sdk.StopReasonEndTurn, `text:"Hello, world"`},
		{"stream_tools", 82, 17, true, sdk.StopReasonToolUse, `text:"Checking both." tool_use:call_1:get_weather:{"city":"Paris"} tool_use:call_2:get_weather:{"city":"Rome"}`},
		{"stream_nousage", 0, 0, false, sdk.StopReasonToolUse, `tool_use:call_9:lookup:{} text:"Done."`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, conv, err := reverseStream(t, golden.Read(t, tc.name+".openai.sse"))
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name+".anthropic.golden.sse", []byte(out))
			sdkDecodesEvents(t, []byte(out))
			var m sdk.Message
			rd := sse.NewReader(strings.NewReader(out))
			for {
				ev, err := rd.Next()
				if err != nil {
					break
				}
				var u sdk.MessageStreamEventUnion
				if err := json.Unmarshal(ev.Data, &u); err != nil {
					t.Fatal(err)
				}
				if err := m.Accumulate(u); err != nil {
					t.Fatalf("accumulate %s: %v", ev.Data, err)
				}
			}
			var got []string
			for _, b := range m.Content {
				switch b.Type {
				case "text":
					got = append(got, fmt.Sprintf("text:%q", b.Text))
				case "tool_use":
					got = append(got, fmt.Sprintf("tool_use:%s:%s:%s", b.ID, b.Name, b.Input))
				}
			}
			if g := strings.Join(got, " "); g != tc.want || m.StopReason != tc.stop {
				t.Errorf("accumulated %s, stop %q; want %s, %q", g, m.StopReason, tc.want, tc.stop)
			}
			u, ok := conv.Usage()
			if ok != tc.haveUsage || u.PromptTokens != tc.prompt || u.CompletionTokens != tc.completion {
				t.Errorf("usage = %+v (%v), want %d + %d", u, ok, tc.prompt, tc.completion)
			}
			if tc.haveUsage && (m.Usage.OutputTokens != int64(tc.completion) || m.Usage.InputTokens+m.Usage.CacheReadInputTokens != int64(tc.prompt)) {
				t.Errorf("accumulated usage %+v, want %d in, %d out", m.Usage, tc.prompt, tc.completion)
			}
		})
	}
}

func TestReverseStreamFailures(t *testing.T) {
	in := golden.Read(t, "stream_text.openai.sse")
	cut := in[:bytes.Index(in, []byte(`"finish_reason":"stop"`))]
	cut = cut[:bytes.LastIndex(cut, []byte("data: "))]
	if _, _, err := reverseStream(t, cut); !errors.Is(err, adaptor.ErrTruncated) {
		t.Errorf("cut before finish_reason: err = %v, want ErrTruncated", err)
	}
	withErr := append(cut[:len(cut):len(cut)], []byte("data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\",\"code\":\"overloaded\"}}\n\n")...)
	out, _, err := reverseStream(t, withErr)
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) || ue.Err.Message != "overloaded" || ue.Err.Type != "server_error" {
		t.Errorf("error chunk: err = %v, want the upstream error", err)
	}
	if !strings.HasPrefix(out, "event: message_start\n") || strings.Contains(out, "message_stop") {
		t.Errorf("events before the error = %s", out)
	}
	if _, _, err := reverseStream(t, []byte("data: not json\n\n")); err == nil || errors.Is(err, adaptor.ErrTruncated) {
		t.Errorf("garbage: err = %v", err)
	}
}

// FuzzReverseStream: whatever upstream sends, the converter does not panic
// and emits only JSON events that name themselves.
func FuzzReverseStream(f *testing.F) {
	adaptortest.FuzzStream(f, fixtures(f, "stream_text.openai.sse", "stream_tools.openai.sse", "stream_nousage.openai.sse"),
		func() adaptor.Stream { return NewReverseStream(reverseState()) },
		func(p []byte) bool { return json.Valid(p) && len(openai.EventType(p)) > 0 })
}

func BenchmarkReverseStreamChunk(b *testing.B) {
	ev := []byte(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello, world"},"finish_reason":null}]}`)
	conv := NewReverseStream(reverseState())
	emit := func([]byte) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := conv.Event(nil, ev, emit); err != nil {
			b.Fatal(err)
		}
	}
}
