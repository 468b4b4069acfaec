package openai

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Request // Body and raw fields are checked separately
		wantErr error
	}{
		{
			name: "chat",
			body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			want: Request{Model: "gpt-4o"},
		},
		{
			name: "stream with usage and limits",
			body: ` {"stream": true, "max_tokens": 512, "max_completion_tokens": 100,
				"stream_options": {"include_usage": true}, "model": "gpt-3.5-turbo"} `,
			want: Request{Model: "gpt-3.5-turbo", Stream: true, MaxTokens: 512, MaxCompletionTokens: 100, IncludeUsage: true},
		},
		{
			name: "nulls are absent",
			body: `{"model":"m","stream":null,"max_tokens":null,"stream_options":null}`,
			want: Request{Model: "m"},
		},
		{
			name: "include_usage false",
			body: `{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1}}`,
			want: Request{Model: "m", Stream: true},
		},
		{
			name: "escaped key and value",
			body: `{"mod\u0065l":"gpt-4o-mini\u00e9\n"}`,
			want: Request{Model: "gpt-4o-mini\u00e9\n"},
		},
		{
			name: "last duplicate wins",
			body: `{"model":"cheap","stream":true,"model":"expensive","stream":false}`,
			want: Request{Model: "expensive"},
		},
		{name: "keys are case-sensitive", body: `{"Model":"gpt-4o"}`, wantErr: ErrMissingModel},
		{name: "missing model", body: `{"messages":[]}`, wantErr: ErrMissingModel},
		{name: "empty model", body: `{"model":""}`, wantErr: ErrMissingModel},
		{name: "null model", body: `{"model":null}`, wantErr: ErrMissingModel},
		{name: "model not a string", body: `{"model":4}`, wantErr: ErrInvalidField},
		{name: "stream as string", body: `{"model":"m","stream":"true"}`, wantErr: ErrInvalidField},
		{name: "negative max_tokens", body: `{"model":"m","max_tokens":-1}`, wantErr: ErrInvalidField},
		{name: "fractional max_tokens", body: `{"model":"m","max_tokens":1.5}`, wantErr: ErrInvalidField},
		{name: "huge max_tokens", body: `{"model":"m","max_tokens":99999999999}`, wantErr: ErrInvalidField},
		{name: "stream_options not an object", body: `{"model":"m","stream_options":[]}`, wantErr: ErrInvalidField},
		{name: "empty body", body: ``, wantErr: ErrInvalidJSON},
		{name: "array", body: `[{"model":"m"}]`, wantErr: ErrInvalidJSON},
		{name: "truncated", body: `{"model":"m","messages":[{"role":"user"`, wantErr: ErrInvalidJSON},
		{name: "trailing garbage", body: `{"model":"m"} x`, wantErr: ErrInvalidJSON},
		{name: "invalid deep inside", body: `{"model":"m","messages":[{"content":"a` + "\x01" + `"}]}`, wantErr: ErrInvalidJSON},
		{name: "trailing comma", body: `{"model":"m",}`, wantErr: ErrInvalidJSON},
		{name: "bad escape", body: `{"model":"\q"}`, wantErr: ErrInvalidJSON},
		{name: "too deep", body: `{"model":"m","x":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `}`, wantErr: ErrInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tt.body))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			got.Body, got.Messages, got.Prompt, got.Input = nil, nil, nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseRequestRawFields(t *testing.T) {
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"prompt":"p","input":["a","b"]}`)
	req, err := ParseRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  json.RawMessage
		want string
	}{
		{"messages", req.Messages, `[{"role":"user","content":"hi"}]`},
		{"prompt", req.Prompt, `"p"`},
		{"input", req.Input, `["a","b"]`},
	} {
		if string(c.got) != c.want {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
	// Raw fields are views into the body, not copies.
	if &req.Messages[0] != &body[strings.Index(string(body), "[")] {
		t.Error("Messages is a copy, want a sub-slice of Body")
	}
	if &req.Body[0] != &body[0] {
		t.Error("Body is a copy")
	}
}

func TestOutputLimit(t *testing.T) {
	tests := []struct {
		req  Request
		want int
	}{
		{Request{}, 0},
		{Request{MaxTokens: 10}, 10},
		{Request{MaxCompletionTokens: 20}, 20},
		{Request{MaxTokens: 10, MaxCompletionTokens: 20}, 10},
	}
	for _, tt := range tests {
		if g, w := tt.req.OutputLimit(), tt.want; g != w {
			t.Errorf("OutputLimit(%+v) = %d, want %d", tt.req, g, w)
		}
	}
}

func TestParseRequestAllocs(t *testing.T) {
	body := []byte(chatBody)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseRequest(body); err != nil {
			t.Fatal(err)
		}
	})
	// One allocation: the model string.
	if allocs > 1 {
		t.Errorf("ParseRequest allocs = %v, want <= 1", allocs)
	}
}

// valid reports whether b is one JSON value, by our scanner.
func valid(b []byte) bool {
	end, err := skipValue(b, skipWS(b, 0), 0)
	return err == nil && skipWS(b, end) == len(b)
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	for _, s := range validSeeds {
		if g, w := valid([]byte(s)), json.Valid([]byte(s)); g != w {
			t.Errorf("valid(%q) = %v, json.Valid = %v", s, g, w)
		}
	}
}

var validSeeds = []string{
	``, ` `, `{}`, `[]`, `0`, `-0`, `01`, `1.`, `1.5e`, `1.5e+3`, `-`, `1E9`, `"\u12"`, `"\u00e9"`,
	`"\ud800"`, `"a\/b"`, `tru`, `true`, `nul`, `[1,]`, `[1 2]`, `{"a":1,}`, `{"a" 1}`, `{1:1}`,
	"\"\x7f\xff\"", "\"\x1f\"", `{"a":[{"b":{"c":[null,false,"x"]}}]}`, ` {"a":1} `, `{"a":1}{}`,
}

// FuzzValid checks that the scanner accepts exactly what encoding/json does.
func FuzzValid(f *testing.F) {
	for _, s := range validSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if g, w := valid(b), json.Valid(b); g != w {
			t.Fatalf("valid(%q) = %v, json.Valid = %v", b, g, w)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		chatBody,
		`{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":5}`,
		`{"mod\u0065l":"x\ud83d\ude00","model":"y"}`,
		`{"model":1}`, `[]`, `{"model":"m"} `, `{"model":"m","max_tokens":1e3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrMissingModel) && !errors.Is(err, ErrInvalidField) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if errors.Is(err, ErrInvalidJSON) && json.Valid(body) && isObject(body) {
				t.Fatalf("ErrInvalidJSON for valid object %q: %v", body, err)
			}
			return
		}
		// Differential: encoding/json agrees on the model (last duplicate wins
		// in both, keys unescaped in both).
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("accepted %q, encoding/json: %v", body, err)
		}
		var model string
		if err := json.Unmarshal(m["model"], &model); err != nil || model != req.Model {
			t.Fatalf("model = %q, encoding/json says %q (%v)", req.Model, model, err)
		}
		for _, raw := range []json.RawMessage{req.Messages, req.Prompt, req.Input} {
			if raw != nil && !json.Valid(raw) {
				t.Fatalf("raw field %q is not valid JSON", raw)
			}
		}
	})
}

func isObject(b []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && m != nil
}

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},` +
	`{"role":"user","content":"Write a haiku about gateways, and explain each line in one sentence. \u00e9\n"}],` +
	`"temperature":0.7,"max_tokens":256,"stream":true,"stream_options":{"include_usage":true}}`

func BenchmarkParseRequest(b *testing.B) {
	big := []byte(`{"model":"gpt-4o","stream":false,"messages":[` +
		strings.Repeat(`{"role":"user","content":"`+strings.Repeat("lorem ipsum dolor sit amet ", 40)+`"},`, 49) +
		`{"role":"user","content":"end"}]}`)
	for _, bc := range []struct {
		name string
		body []byte
	}{{"chat", []byte(chatBody)}, {"chat_50_messages", big}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if _, err := ParseRequest(bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
		// Baseline: the obvious encoding/json decode into a small struct.
		b.Run(bc.name+"/encoding_json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				var r struct {
					Model         string          `json:"model"`
					Stream        bool            `json:"stream"`
					MaxTokens     int             `json:"max_tokens"`
					Messages      json.RawMessage `json:"messages"`
					StreamOptions *struct {
						IncludeUsage bool `json:"include_usage"`
					} `json:"stream_options"`
				}
				if err := json.Unmarshal(bc.body, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
