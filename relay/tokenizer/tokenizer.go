// Package tokenizer counts tokens locally, the fallback for billing when
// upstream reports no usage. It uses tiktoken's BPE files compiled into the
// binary (tiktoken-go-loader), never the network: tiktoken-go's default
// loader downloads them on first use, which on an offline host hangs the
// first request and then fails.
package tokenizer

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"

	"one-api/common"
	"one-api/relay/openai"
)

// Images are not fetched to learn their size (one-api did, on the request
// path), so each image_url part counts a fixed amount: OpenAI's low-detail
// cost, or for "high"/"auto"/unset a 1024×1024 image at high detail (scaled
// to 768×768: 4 tiles × 170 + 85). one-api also treated "auto" as high.
const (
	LowDetailImageTokens  = 85
	HighDetailImageTokens = 765
)

// encoding is one BPE table, loaded on first use: parsing o200k_base takes a
// noticeable fraction of a second that start-up should not pay.
type encoding struct {
	name    string
	once    sync.Once
	tk      *tiktoken.Tiktoken // nil if loading failed
	prepare sync.Once
	ready   atomic.Bool // the load is over (tk set, or failed)
}

var (
	loaderOnce sync.Once
	cl100k     = &encoding{name: tiktoken.MODEL_CL100K_BASE}
	o200k      = &encoding{name: tiktoken.MODEL_O200K_BASE}
)

// o200kPrefixes are the model families tokenized with o200k_base; anything
// else (gpt-3.5, gpt-4, embeddings and non-OpenAI models, for which any BPE
// is an estimate) uses cl100k_base. one-api used cl100k_base for gpt-4o too.
var o200kPrefixes = []string{"gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss", "o1", "o3", "o4"}

func (e *encoding) get() *tiktoken.Tiktoken {
	e.once.Do(func() {
		defer e.ready.Store(true)
		// SetBpeLoader sets a tiktoken-go global; doing it under a Once that
		// precedes every GetEncoding keeps it race-free.
		loaderOnce.Do(func() { tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader()) })
		tk, err := tiktoken.GetEncoding(e.name)
		if err != nil {
			common.Error("load %s token encoding: %v; estimating 4 bytes per token", e.name, err)
			return
		}
		e.tk = tk
	})
	return e.tk
}

func encodingFor(model string) *encoding {
	// Provider-prefixed names ("openai/gpt-4o") name the same model.
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	for _, p := range o200kPrefixes {
		if strings.HasPrefix(model, p) {
			return o200k
		}
	}
	return cl100k
}

// Prepare starts loading model's encoding in the background, once, so that
// a count needed later (at the end of a stream that reports no usage, which
// may be the end of a shutdown's budget) does not wait for the load. It is
// cheap to call on every stream.
func Prepare(model string) {
	e := encodingFor(model)
	e.prepare.Do(func() { go e.get() })
}

// Ready reports whether model's encoding is loaded, so that a count will
// not wait seconds for it.
func Ready(model string) bool { return encodingFor(model).ready.Load() }

// Warm loads both encodings now, so that the first request needing a count
// does not wait for it. It is optional and safe to call concurrently.
func Warm() {
	cl100k.get()
	o200k.get()
}

func count(e *encoding, text string, b *budget) int {
	before := b.total()
	b.add(e, text)
	return b.total() - before
}

// CountText returns the number of tokens of text for model.
// Counting is linear in len(text) and exact for the first exactBudget
// bytes; the rest is estimated (see bound.go).
func CountText(model, text string) int {
	b := newBudget()
	b.add(encodingFor(model), text)
	return b.total()
}

// CountInput returns the tokens of a completions prompt or embeddings input.
func CountInput(model string, in openai.Input) int {
	e, b := encodingFor(model), newBudget()
	for _, t := range in.Texts {
		b.add(e, t)
	}
	return in.Tokens + b.total()
}

// CountMessages returns the prompt tokens of a chat request the way one-api
// (after OpenAI's cookbook) counts them: per message 3 tokens of framing plus
// its role and content, 1 more plus the name when it has one, and 3 for
// priming the reply. gpt-3.5-turbo-0301 frames differently (4, and a name
// replaces the role).
func CountMessages(model string, messages []openai.Message) int {
	e, b := encodingFor(model), newBudget()
	perMessage, perName := 3, 1
	if model == "gpt-3.5-turbo-0301" {
		perMessage, perName = 4, -1
	}
	n := 0
	for _, m := range messages {
		n += perMessage
		for _, p := range m.Content {
			switch p.Type {
			case "text":
				n += count(e, p.Text, &b)
			case "image_url":
				n += imageTokens(p.ImageDetail)
			}
		}
		n += count(e, m.Role, &b)
		if m.Name != "" {
			n += perName + count(e, m.Name, &b)
		}
	}
	return n + 3
}

func imageTokens(detail string) int {
	if detail == "low" {
		return LowDetailImageTokens
	}
	return HighDetailImageTokens
}
