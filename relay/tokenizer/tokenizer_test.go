package tokenizer

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"one-api/relay/openai"
)

// netCalls counts HTTP requests made through the default client, which is
// what tiktoken-go's own loader downloads its BPE files with.
var netCalls atomic.Int32

type refuseTransport struct{}

func (refuseTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	netCalls.Add(1)
	return nil, fmt.Errorf("test: network use refused: %s", r.URL)
}

func TestMain(m *testing.M) {
	if cl100k.tk != nil || o200k.tk != nil {
		fmt.Println("an encoding was loaded before first use")
		os.Exit(1)
	}
	http.DefaultTransport = refuseTransport{}
	// An empty cache dir, so a cached download could not hide network use.
	dir, err := os.MkdirTemp("", "tiktoken-cache")
	if err != nil {
		panic(err)
	}
	os.Setenv("TIKTOKEN_CACHE_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	if n := netCalls.Load(); n != 0 {
		fmt.Printf("tokenizer made %d network requests, want 0\n", n)
		code = 1
	}
	os.Exit(code)
}

func TestCountText(t *testing.T) {
	tests := []struct {
		model, text string
		want        int
	}{
		{"gpt-3.5-turbo", "hello world", 2},
		{"gpt-4o", "hello world", 2},
		{"gpt-3.5-turbo", "", 0},
		{"gpt-3.5-turbo", "The quick brown fox jumps over the lazy dog.", 10},
		// The encodings differ on CJK: cl100k_base 6, o200k_base 3.
		{"gpt-3.5-turbo", "你好，世界", 6},
		{"gpt-4", "你好，世界", 6},
		{"text-embedding-3-small", "你好，世界", 6},
		{"gpt-4o-mini", "你好，世界", 3},
		{"o1-mini", "你好，世界", 3},
		{"gpt-4.1-nano", "你好，世界", 3},
		{"openai/gpt-4o", "你好，世界", 3},
		{"some-local-llama", "你好，世界", 6},
		// Special tokens in user text are plain text, not control tokens.
		{"gpt-3.5-turbo", "<|endoftext|>", 7},
	}
	for _, tt := range tests {
		if got := CountText(tt.model, tt.text); got != tt.want {
			t.Errorf("CountText(%s, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
		}
	}
}

// cookbook is the example of OpenAI's "How to count tokens with tiktoken"
// notebook; its counts there match what the API reports as prompt_tokens.
const cookbook = `[
 {"role":"system","content":"You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
 {"role":"system","name":"example_user","content":"New synergies will help drive top-line growth."},
 {"role":"system","name":"example_assistant","content":"Things working well together will increase revenue."},
 {"role":"system","name":"example_user","content":"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
 {"role":"system","name":"example_assistant","content":"Let's talk later when we're less busy about how to do better."},
 {"role":"user","content":"This late pivot means we don't have time to boil the ocean for the client deliverable."}
]`

func TestCountMessages(t *testing.T) {
	msgs, err := openai.ParseMessages([]byte(cookbook))
	if err != nil {
		t.Fatal(err)
	}
	for model, want := range map[string]int{
		"gpt-3.5-turbo-0301": 127,
		"gpt-3.5-turbo-0613": 129,
		"gpt-4":              129,
		"gpt-4o":             124,
		"gpt-4o-mini":        124,
	} {
		if got := CountMessages(model, msgs); got != want {
			t.Errorf("CountMessages(%s, cookbook) = %d, want %d", model, got, want)
		}
	}
}

func TestCountMessagesParts(t *testing.T) {
	// "hello world" is 2 tokens and "user" 1 in both encodings, so each
	// message below is 3 framing + 1 role + its parts, plus 3 for the reply.
	tests := []struct {
		name string
		msgs []openai.Message
		want int
	}{
		{"empty", nil, 3},
		{"string content", []openai.Message{{Role: "user", Content: []openai.ContentPart{{Type: "text", Text: "hello world"}}}}, 3 + 1 + 2 + 3},
		{"two text parts", []openai.Message{{Role: "user", Content: []openai.ContentPart{
			{Type: "text", Text: "hello world"}, {Type: "text", Text: "hello world"},
		}}}, 3 + 1 + 4 + 3},
		{"images", []openai.Message{{Role: "user", Content: []openai.ContentPart{
			{Type: "image_url", ImageDetail: "low"}, {Type: "image_url", ImageDetail: "high"}, {Type: "image_url"},
		}}}, 3 + 1 + 85 + 765 + 765 + 3},
		{"other parts count nothing", []openai.Message{{Role: "user", Content: []openai.ContentPart{{Type: "input_audio"}}}}, 3 + 1 + 3},
		{"null content", []openai.Message{{Role: "user"}}, 3 + 1 + 3},
		{"name", []openai.Message{{Role: "user", Name: "hello"}}, 3 + 1 + 1 + 1 + 3},
	}
	for _, tt := range tests {
		for _, model := range []string{"gpt-3.5-turbo", "gpt-4o"} {
			if got := CountMessages(model, tt.msgs); got != tt.want {
				t.Errorf("%s/%s: got %d, want %d", tt.name, model, got, tt.want)
			}
		}
	}
}

func TestCountInput(t *testing.T) {
	in := openai.Input{Texts: []string{"hello world", "你好，世界"}, Tokens: 7}
	if got, want := CountInput("gpt-3.5-turbo", in), 2+6+7; got != want {
		t.Errorf("CountInput = %d, want %d", got, want)
	}
}

func TestConcurrentFirstUse(t *testing.T) {
	// Both encodings may be loaded by many requests at once; -race checks
	// the lazy init and tiktoken's shared state.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			model := []string{"gpt-4o", "gpt-3.5-turbo"}[i%2]
			if got := CountText(model, "hello world"); got != 2 {
				t.Errorf("CountText = %d, want 2", got)
			}
		})
	}
	wg.Wait()
	Warm()
}

func BenchmarkCountText(b *testing.B) {
	Warm()
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 20)
	for _, model := range []string{"gpt-3.5-turbo", "gpt-4o"} {
		b.Run(model, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				CountText(model, text)
			}
		})
	}
}

func BenchmarkCountMessages(b *testing.B) {
	Warm()
	msgs, err := openai.ParseMessages([]byte(cookbook))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		CountMessages("gpt-4o", msgs)
	}
}
