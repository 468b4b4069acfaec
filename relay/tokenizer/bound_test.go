package tokenizer

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// adversarial are the inputs a hostile upstream or client can make the
// gateway count: one endless word, many short words, CJK, emoji, random
// bytes, an endless run of spaces.
func adversarial(n int) map[string]string {
	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, n)
	for i := range random {
		random[i] = byte(rnd.UintN(256))
	}
	return map[string]string{
		"one long word":    strings.Repeat("x", n),
		"many short words": strings.Repeat("a ", n/2),
		"cjk":              strings.Repeat("你好世界", n/12),
		"emoji":            strings.Repeat("😀", n/4),
		"random bytes":     string(random),
		"spaces":           strings.Repeat(" ", n),
		"digits":           strings.Repeat("1234567890", n/10),
	}
}

// TestCountBounded checks that no input hands BPE, whose merge loop is
// quadratic in the length of what it is given, more than maxRun bytes in
// one piece, and that counting stops being exact after exactBudget bytes.
// Before the bound, 128 KiB of "x" took 9 s of CPU and 1 MiB minutes.
func TestCountBounded(t *testing.T) {
	var longest int
	encodeHook = func(seg string) {
		// Longest stretch without a cut BPE could see at once.
		run := 0
		for i := 1; i < len(seg); i++ {
			if isCut(seg, i) {
				run = 0
				continue
			}
			run++
			longest = max(longest, run)
		}
	}
	t.Cleanup(func() { encodeHook = nil })
	for name, text := range adversarial(64 << 10) {
		longest = 0
		if n := CountText("gpt-4o", text); n <= 0 {
			t.Errorf("%s: %d tokens", name, n)
		}
		if longest > maxRun+utf8.UTFMax {
			t.Errorf("%s: BPE was given a run of %d bytes, want at most %d", name, longest, maxRun+utf8.UTFMax)
		}
	}
}

// TestCountBudget checks that text past the exact budget is estimated from
// the counted part instead of counted: a client sending the largest
// allowed prompt gets a bounded amount of CPU.
func TestCountBudget(t *testing.T) {
	var counted int
	encodeHook = func(seg string) { counted += len(seg) }
	t.Cleanup(func() { encodeHook = nil })
	word := "hello world "
	text := strings.Repeat(word, 3*exactBudget/len(word))
	got := CountText("gpt-3.5-turbo", text)
	if counted > exactBudget+segSize {
		t.Errorf("counted %d bytes exactly, want at most %d", counted, exactBudget+segSize)
	}
	// "hello world " is 2 tokens ("hello", " world", the space joining the
	// next word); the estimate may be off by a token or so at the cut.
	if want := 2 * len(text) / len(word); got < want-2 || got > want+2 {
		t.Errorf("CountText = %d, want about %d", got, want)
	}
}

// TestCountCutsKeepCounts checks that segmenting does not change the count
// of ordinary text: the cuts fall where tiktoken's own pieces begin.
func TestCountCutsKeepCounts(t *testing.T) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. 你好，世界! ", 400)
	for _, model := range []string{"gpt-3.5-turbo", "gpt-4o"} {
		e := encodingFor(model)
		want := len(e.get().EncodeOrdinary(text))
		if got := CountText(model, text); got != want {
			t.Errorf("%s: CountText = %d, want tiktoken's %d for the whole text", model, got, want)
		}
	}
}

// BenchmarkCountAdversarial reports ns/byte (via MB/s) of counting the
// adversarial inputs: it must stay flat as the input grows.
func BenchmarkCountAdversarial(b *testing.B) {
	Warm()
	for _, size := range []int{16 << 10, 256 << 10} {
		for name, text := range adversarial(size) {
			b.Run(name+"/"+byteSize(size), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(text)))
				for b.Loop() {
					CountText("gpt-4o", text)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(text)), "ns/byte")
			})
		}
	}
}

func byteSize(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}
