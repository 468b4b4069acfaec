package openai

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"
	"testing"
)

// TestStringSpecials checks the word test against the byte test: whether a
// word has a special byte and where the first one is, for every byte value
// at every position, on backgrounds next to the special ranges, and with a
// second special byte above the first (where a borrow could mislead).
func TestStringSpecials(t *testing.T) {
	first := func(w [8]byte) int {
		for i, c := range w {
			if isStringSpecial(c) {
				return i
			}
		}
		return -1
	}
	for _, bg := range []byte{'a', ' ', '!', '#', '[', ']', 0x7f, 0x80, 0xa2, 0xdc, 0xff} {
		for _, above := range []int{-1, '"', '\\', 0x00, 0x1f} {
			for pos := 0; pos < 8; pos++ {
				for v := 0; v < 256; v++ {
					var w [8]byte
					for i := range w {
						w[i] = bg
					}
					w[pos] = byte(v)
					if above >= 0 && pos < 7 {
						w[7] = byte(above)
					}
					want := first(w)
					m := stringSpecials(binary.LittleEndian.Uint64(w[:]))
					got := -1
					if m != 0 {
						got = bits.TrailingZeros64(m) / 8
					}
					if got != want {
						t.Fatalf("first special of %q = %d, want %d", w, got, want)
					}
				}
			}
		}
	}
}

// TestSkipStringLong puts each kind of byte at every offset of strings
// longer than a word, so both the word loop and the byte loop meet it, and
// compares the verdict with encoding/json.
func TestSkipStringLong(t *testing.T) {
	for _, n := range []int{7, 8, 9, 15, 16, 17, 31, 40} {
		for pos := 0; pos < n; pos++ {
			for _, ins := range []string{`"`, `\`, `\"`, `\\`, `\u00e9`, `\x`, "\x00", "\x1f", "\x7f", "é", "\xff", " "} {
				s := `"` + strings.Repeat("a", pos) + ins + strings.Repeat("b", n-pos) + `"`
				b := []byte(s)
				if g, w := valid(b), json.Valid(b); g != w {
					t.Errorf("valid(%q) = %v, json.Valid = %v", s, g, w)
				}
				end, esc, err := skipString(b, 0)
				if err == nil && end > len(b) {
					t.Errorf("skipString(%q) end %d past %d", s, end, len(b))
				}
				if err == nil && esc != strings.Contains(s[:end], `\`) {
					t.Errorf("skipString(%q) escaped = %v", s, esc)
				}
			}
		}
	}
}

// BenchmarkExtractUsageResponse scans a non-stream answer the size of the
// benchmark mock's (≈1.4 KB, mostly one content string).
func BenchmarkExtractUsageResponse(b *testing.B) {
	body := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-3.5-turbo",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"` + strings.Repeat("lorem ipsum dolor ", 70) +
		`"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ExtractUsage(body); !ok {
			b.Fatal("no usage")
		}
	}
}
