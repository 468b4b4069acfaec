package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		model string
		usage bool
		want  string // "" = body returned unchanged
	}{
		{name: "nothing to do", body: `{"model":"gpt-4o","stream":true}`, model: "gpt-4o"},
		{name: "usage already asked", body: `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, model: "m", usage: true},
		{name: "non-stream never gets stream_options", body: `{"model":"m","stream":false}`, model: "m", usage: true},
		{name: "escaped model that decodes equal", body: `{"model":"gpt\u002d4o"}`, model: "gpt-4o"},
		{
			name:  "mapped model keeps every other byte",
			body:  "{ \"temperature\" : 0.70,\n \"model\" : \"gpt-4\" , \"n\":1 }",
			model: "gpt-4-0613",
			want:  "{ \"temperature\" : 0.70,\n \"model\" : \"gpt-4-0613\" , \"n\":1 }",
		},
		{
			name: "model needing escapes", body: `{"model":"a"}`, model: "a\"b\n",
			want: `{"model":"a\"b\n"}`,
		},
		{
			name: "every duplicate model", body: `{"model":"a","x":1,"model":"a2"}`, model: "b",
			want: `{"model":"b","x":1,"model":"b"}`,
		},
		{name: "missing model", body: `{"n":1}`, model: "m", want: `{"model":"m","n":1}`},
		{name: "missing model, empty object", body: ` { } `, model: "m", want: ` {"model":"m" } `},
		{
			name: "add stream_options", body: `{"model":"m","stream":true}`, model: "m", usage: true,
			want: `{"stream_options":{"include_usage":true},"model":"m","stream":true}`,
		},
		{
			name: "add model and stream_options", body: `{"stream":true}`, model: "m", usage: true,
			want: `{"model":"m","stream_options":{"include_usage":true},"stream":true}`,
		},
		{
			name: "keep other stream options", body: `{"model":"m","stream":true,"stream_options":{ "x":1}}`, model: "m", usage: true,
			want: `{"model":"m","stream":true,"stream_options":{ "include_usage":true,"x":1}}`,
		},
		{
			name: "empty stream_options", body: `{"model":"m","stream":true,"stream_options":{}}`, model: "m", usage: true,
			want: `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name: "include_usage false", body: `{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1}}`, model: "m", usage: true,
			want: `{"model":"m","stream":true,"stream_options":{"include_usage":true,"x":1}}`,
		},
		{
			name: "null stream_options", body: `{"model":"m","stream_options":null,"stream":true}`, model: "m", usage: true,
			want: `{"model":"m","stream_options":{"include_usage":true},"stream":true}`,
		},
		{
			name: "model and usage together", body: `{"model":"a","stream":true,"stream_options":{"include_usage":false}}`, model: "b", usage: true,
			want: `{"model":"b","stream":true,"stream_options":{"include_usage":true}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			got, err := Rewrite(body, tt.model, tt.usage)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if len(got) != len(body) || &got[0] != &body[0] {
					t.Errorf("got %s, want the body itself", got)
				}
				return
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON")
			}
		})
	}
}

func TestRewriteUnchangedDoesNotAllocate(t *testing.T) {
	body := []byte(chatBody)
	allocs := testing.AllocsPerRun(100, func() {
		out, err := Rewrite(body, "gpt-4o-mini", true)
		if err != nil || &out[0] != &body[0] {
			t.Fatalf("Rewrite changed the body (err %v)", err)
		}
	})
	if allocs != 0 {
		t.Errorf("allocs = %v, want 0", allocs)
	}
}

func TestRewriteInvalid(t *testing.T) {
	for _, body := range []string{``, `[]`, `{"model":"m"`, `{"model":"m"}}`} {
		if _, err := Rewrite([]byte(body), "m", true); !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("Rewrite(%q) err = %v, want ErrInvalidJSON", body, err)
		}
	}
}

func FuzzRewrite(f *testing.F) {
	f.Add([]byte(chatBody), "gpt-4o", true)
	f.Add([]byte(`{"model":"a","stream":true,"stream_options":{"include_usage":false}}`), "b", true)
	f.Add([]byte(`{"stream":true,"stream_options":null}`), "x", true)
	f.Add([]byte(`{}`), "\u00e9<&>", false)
	f.Add([]byte(`{"mod\u0065l":"a","model":"b"}`), "c", false)
	f.Fuzz(func(t *testing.T, body []byte, model string, usage bool) {
		orig := bytes.Clone(body)
		out, err := Rewrite(body, model, usage)
		if !bytes.Equal(body, orig) {
			t.Fatal("Rewrite modified its input")
		}
		var before map[string]json.RawMessage
		if json.Unmarshal(body, &before) != nil || before == nil {
			if err == nil {
				t.Fatalf("accepted non-object %q", body)
			}
			return
		}
		if err != nil {
			t.Fatalf("Rewrite(%q): %v", body, err)
		}
		var after map[string]json.RawMessage
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("output %q is not a JSON object: %v", out, err)
		}
		var got string
		if err := json.Unmarshal(after["model"], &got); err != nil {
			t.Fatalf("output %q has no string model: %v", out, err)
		}
		// Invalid UTF-8 becomes U+FFFD, as with encoding/json.
		var want string
		quoted, _ := json.Marshal(model)
		json.Unmarshal(quoted, &want)
		if got != want {
			t.Fatalf("model = %q, want %q", got, want)
		}
		for k, v := range before {
			if k == "model" || k == "stream_options" {
				continue
			}
			if !bytes.Equal(after[k], v) {
				t.Fatalf("key %q: %s became %s", k, v, after[k])
			}
		}
		for k := range after {
			if _, ok := before[k]; !ok && k != "model" && k != "stream_options" {
				t.Fatalf("key %q appeared", k)
			}
		}
		req, err := ParseRequest(out)
		if err != nil || !usage || !req.Stream {
			return
		}
		if !req.IncludeUsage {
			t.Fatalf("stream output %q lacks include_usage", out)
		}
	})
}

func BenchmarkRewrite(b *testing.B) {
	body := []byte(chatBody)
	for _, bc := range []struct {
		name  string
		model string
	}{{"unchanged", "gpt-4o-mini"}, {"mapped", "gpt-4o-mini-2024-07-18"}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Rewrite(body, bc.model, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
