package openai

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

const (
	usageChunk   = `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0}}}`
	contentChunk = `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hello \"w\u00f6rld\"\n"},"finish_reason":null}],"usage":null}`
)

func TestExtractUsage(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		want   Usage
		wantOK bool
	}{
		{"final stream chunk", usageChunk, Usage{19, 10, 29}, true},
		{
			"non-stream response",
			`{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`,
			Usage{5, 1, 6}, true,
		},
		{"embeddings: no completion", `{"data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}`, Usage{8, 0, 8}, true},
		{"total missing", `{"usage":{"prompt_tokens":2,"completion_tokens":3}}`, Usage{2, 3, 5}, true},
		{"float counts", `{"usage":{"prompt_tokens":2.0,"completion_tokens":3e1}}`, Usage{2, 30, 32}, true},
		{"content chunk", contentChunk, Usage{}, false},
		{"null usage", `{"usage":null}`, Usage{}, false},
		{"empty usage", `{"usage":{}}`, Usage{}, false},
		{"nested usage is not ours", `{"choices":[{"usage":{"prompt_tokens":1}}]}`, Usage{}, false},
		{"malformed", `{"usage":{"prompt_tokens":1}`, Usage{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ExtractUsage([]byte(tt.data))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestIsUsageOnlyChunk(t *testing.T) {
	tests := []struct {
		data string
		want bool
	}{
		{usageChunk, true},
		{`{"choices":[ ],"usage":{"prompt_tokens":1}}`, true},
		{contentChunk, false},
		{`{"choices":[],"usage":null}`, false},
		{`{"choices":[{"delta":{}}],"usage":{"prompt_tokens":1}}`, false},
		{`{"usage":{"prompt_tokens":1}}`, false},
		{`{"choices":[],"usage":{`, false},
	}
	for _, tt := range tests {
		if g := IsUsageOnlyChunk([]byte(tt.data)); g != tt.want {
			t.Errorf("IsUsageOnlyChunk(%s) = %v, want %v", tt.data, g, tt.want)
		}
	}
}

func TestAppendCompletionText(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"delta content", contentChunk, "Hello \"wörld\"\n"},
		{"two choices", `{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}`, "ab"},
		{"role-only delta", `{"choices":[{"delta":{"role":"assistant","content":null}}]}`, ""},
		{"legacy completion", `{"choices":[{"text":"once upon","index":0}]}`, "once upon"},
		{"non-stream message", `{"choices":[{"message":{"role":"assistant","content":"done"}}]}`, "done"},
		{"reasoning", `{"choices":[{"delta":{"reasoning_content":"think ","content":"say"}}]}`, "think say"},
		{
			"tool call arguments",
			`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{\"a\":1}"}}]}}]}`,
			`{"a":1}`,
		},
		{"surrogate pair", `{"choices":[{"delta":{"content":"\ud83d\ude00 \ud800x"}}]}`, "😀 \uFFFDx"},
		{"usage chunk", usageChunk, ""},
		{"malformed adds nothing", `{"choices":[{"delta":{"content":"partial"}}]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendCompletionText([]byte("prev:"), []byte(tt.data))
			if g, w := string(got), "prev:"+tt.want; g != w {
				t.Errorf("got %q, want %q", g, w)
			}
		})
	}
}

// FuzzUnescape checks string decoding against encoding/json.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`"a"`, `"\u00e9\n\t\\\/"`, `"\ud83d\ude00"`, `"\ud800\u0041"`, `"\udc00"`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, lit []byte) {
		var want string
		if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' || json.Unmarshal(lit, &want) != nil {
			return
		}
		if end, _, err := skipString(lit, 0); err != nil || end != len(lit) {
			t.Fatalf("skipString rejects %q that encoding/json accepts", lit)
		}
		got := appendUnescaped(nil, lit[1:len(lit)-1])
		// encoding/json also replaces invalid UTF-8 bytes; we copy them.
		if utf8.Valid(lit) && string(got) != want {
			t.Fatalf("unescape(%s) = %q, want %q", lit, got, want)
		}
	})
}

func BenchmarkStreamChunk(b *testing.B) {
	content, usage := []byte(contentChunk), []byte(usageChunk)
	b.Run("ExtractUsage", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ExtractUsage(content)
			ExtractUsage(usage)
		}
	})
	b.Run("IsUsageOnlyChunk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			IsUsageOnlyChunk(content)
			IsUsageOnlyChunk(usage)
		}
	})
	b.Run("AppendCompletionText", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			buf = AppendCompletionText(buf[:0], content)
		}
	})
}

// FuzzReadChunk: the one-pass read agrees with the three scans it replaces
// on every input, so a relayed stream bills exactly as before.
func FuzzReadChunk(f *testing.F) {
	for _, s := range []string{
		usageChunk, contentChunk,
		`{"choices":[],"usage":{"prompt_tokens":1}}`,
		`{"choices":[],"usage":{"prompt_tokens":1},"usage":null}`,
		`{"usage":{"completion_tokens":3},"choices":[{"text":"a"}],"choices":[ ]}`,
		`{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{}"}}]}}]}`,
		`{"choices":[{"delta":{"content":"x"}}]`, `[]`, `{"usage":{"prompt_tokens":1.5}}`,
	} {
		f.Add([]byte(s), []byte("prefix"))
	}
	f.Fuzz(func(t *testing.T, data, prefix []byte) {
		wantText := AppendCompletionText(append([]byte(nil), prefix...), data)
		wantUsage, wantOK := ExtractUsage(data)
		wantOnly := IsUsageOnlyChunk(data)
		text, c := ReadChunk(append([]byte(nil), prefix...), data)
		if string(text) != string(wantText) {
			t.Fatalf("text %q, AppendCompletionText %q", text, wantText)
		}
		if c.Usage != wantUsage || c.HasUsage != wantOK {
			t.Fatalf("usage %+v %v, ExtractUsage %+v %v", c.Usage, c.HasUsage, wantUsage, wantOK)
		}
		if c.UsageOnly != wantOnly {
			t.Fatalf("usage-only %v, IsUsageOnlyChunk %v", c.UsageOnly, wantOnly)
		}
	})
}

func BenchmarkReadChunk(b *testing.B) {
	content, usage := []byte(contentChunk), []byte(usageChunk)
	b.Run("three scans", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			for _, d := range [][]byte{content, usage} {
				if _, ok := ExtractUsage(d); ok {
					IsUsageOnlyChunk(d)
				}
				buf = AppendCompletionText(buf[:0], d)
			}
		}
	})
	b.Run("one pass", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			for _, d := range [][]byte{content, usage} {
				buf, _ = ReadChunk(buf[:0], d)
			}
		}
	})
}
