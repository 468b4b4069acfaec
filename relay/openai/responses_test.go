package openai

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseResponsesRequest(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       ResponsesRequest
		err        error
	}{
		{"plain", `{"model":"gpt-4o","input":"hi"}`, ResponsesRequest{}, nil},
		{"limits and continuation", `{"model":"gpt-4o","max_output_tokens":300,"previous_response_id":"resp_\u0031","background":false}`,
			ResponsesRequest{MaxOutputTokens: 300, PreviousResponseID: "resp_1"}, nil},
		{"background", `{"model":"gpt-4o","background":true}`, ResponsesRequest{}, ErrBackground},
		{"bad limit", `{"model":"gpt-4o","max_output_tokens":-1}`, ResponsesRequest{}, ErrInvalidField},
		{"malformed", `{"model":"gpt-4o",`, ResponsesRequest{}, ErrInvalidJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseResponsesRequest([]byte(tc.body))
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestResponseFacts(t *testing.T) {
	const usage = `{"input_tokens":100,"input_tokens_details":{"cached_tokens":40},"output_tokens":50,"output_tokens_details":{"reasoning_tokens":20},"total_tokens":150}`
	full := ResponsesUsage{InputTokens: 100, OutputTokens: 50, TotalTokens: 150, CachedTokens: 40, ReasoningTokens: 20}
	for _, tc := range []struct {
		name, data, id string
		usage          ResponsesUsage
		ok             bool
	}{
		{"body", `{"id":"resp_1","object":"response","output":[],"usage":` + usage + `}`, "resp_1", full, true},
		{"completed event", `{"type":"response.completed","sequence_number":9,"response":{"id":"resp_2","usage":` + usage + `}}`, "resp_2", full, true},
		{"created event", `{"type":"response.created","response":{"id":"resp_3","usage":null}}`, "resp_3", ResponsesUsage{}, false},
		{"no total", `{"id":"r","usage":{"input_tokens":3,"output_tokens":4}}`, "r", ResponsesUsage{InputTokens: 3, OutputTokens: 4, TotalTokens: 7}, true},
		{"malformed", `{"id":"r","usage":{"input_tokens":3}`, "", ResponsesUsage{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, u, ok := ResponseFacts([]byte(tc.data))
			if id != tc.id || u != tc.usage || ok != tc.ok {
				t.Errorf("got %q %+v %v, want %q %+v %v", id, u, ok, tc.id, tc.usage, tc.ok)
			}
		})
	}
}

func TestAppendResponsesText(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"text delta", `{"type":"response.output_text.delta","delta":"Hel\u006co"}`, "Hello"},
		{"arguments delta", `{"type":"response.function_call_arguments.delta","delta":"{\"a\":1}"}`, `{"a":1}`},
		{"body", `{"id":"r","output":[{"type":"function_call","arguments":"{}"},{"type":"message","content":[{"type":"output_text","text":"Hi"}]}]}`, "{}\nHi\n"},
		{"malformed", `{"delta":"x"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if g := string(AppendResponsesText(nil, []byte(tc.data))); g != tc.want {
				t.Errorf("got %q, want %q", g, tc.want)
			}
		})
	}
}

func TestAppendPromptText(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"responses string", `{"model":"gpt-4o","instructions":"Be brief.","input":"Say hi"}`, "Be brief.\nSay hi\n"},
		{"responses items", `{"model":"gpt-4o","input":[{"role":"user","content":[{"type":"input_text","text":"Hi"}]},{"type":"function_call_output","output":"42"}]}`, "Hi\n42\n"},
		{"messages", `{"model":"claude","system":[{"type":"text","text":"Sys"}],"messages":[{"role":"user","content":"Hello"}]}`, "Sys\nHello\n"},
		{"string array", `{"input":["a","b"]}`, "a\nb\n"},
		{"malformed", `{"input":"x"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if g := string(AppendPromptText(nil, []byte(tc.body))); g != tc.want {
				t.Errorf("got %q, want %q", g, tc.want)
			}
		})
	}
}

func TestEventType(t *testing.T) {
	if g := string(EventType([]byte(`{"type":"message_delta","usage":{}}`))); g != "message_delta" {
		t.Errorf("got %q", g)
	}
	if g := EventType([]byte(`{"delta":"x"}`)); g != nil {
		t.Errorf("got %q, want nil", g)
	}
}

// FuzzResponseFacts: the scanner agrees with encoding/json on every input
// encoding/json accepts, and never panics on the rest.
func FuzzResponseFacts(f *testing.F) {
	for _, s := range []string{
		`{"id":"resp_1","usage":{"input_tokens":1,"output_tokens":2,"input_tokens_details":{"cached_tokens":1}}}`,
		`{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":5,"output_tokens":0}}}`,
		`{"response":null}`, `[]`, `{"usage":{"input_tokens":1.5}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id, u, ok := ResponseFacts(data)
		_ = AppendResponsesText(nil, data)
		_ = AppendPromptText(nil, data)
		// Maps, because encoding/json matches struct fields ignoring case
		// and upstream (and the scanner) do not.
		var top map[string]json.RawMessage
		if json.Unmarshal(data, &top) != nil || top["response"] != nil {
			return
		}
		var wantID string
		if json.Unmarshal(top["id"], &wantID) == nil && id != wantID {
			t.Fatalf("id %q, encoding/json %q", id, wantID)
		}
		var usage map[string]json.RawMessage
		var in int
		if json.Unmarshal(top["usage"], &usage) != nil || json.Unmarshal(usage["input_tokens"], &in) != nil || in < 0 || in > 1<<31 {
			return // floats and other oddities are tokenCount's business
		}
		if !ok || in != u.InputTokens {
			t.Fatalf("usage %s: got %+v %v, encoding/json input_tokens %d", top["usage"], u, ok, in)
		}
	})
}

func BenchmarkResponsesEvent(b *testing.B) {
	delta := []byte(`{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hello"}`)
	completed := []byte(`{"type":"response.completed","sequence_number":9,"response":{"id":"resp_2","object":"response","status":"completed","output":[],"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":40},"output_tokens":50,"output_tokens_details":{"reasoning_tokens":20},"total_tokens":150}}}`)
	b.Run("delta text", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			buf = AppendResponsesText(buf[:0], delta)
		}
	})
	b.Run("completed usage", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ResponseFacts(completed)
		}
	})
}
