package tokenizer

import (
	"unicode/utf8"
)

// tiktoken-go's byte-pair merge is quadratic in the length of a regex piece
// (a scan for the lowest rank per merge), so one unbroken 128 KiB word took
// 9 s of CPU and a 1 MiB one minutes (issue 12). Counting is kept linear by
// never handing tiktoken a run longer than maxRun bytes: text is cut where
// tiktoken's own pieces begin (a space after a non-space), and a run with no
// such place is cut at a rune boundary after maxRun bytes. Ordinary text is
// counted exactly as before; only runs longer than maxRun (a 40-character
// CJK sentence without punctuation, garbage) may count a token more or less.
const (
	maxRun = 128
	// segSize is about how much text one tiktoken call gets: enough to
	// amortise its per-call allocations.
	segSize = 4 << 10
	// exactBudget bounds the bytes counted exactly per count (a whole chat
	// prompt, one completion); the rest is estimated at the rate of the
	// counted part. 128 KiB is some 30,000 tokens of prose, more than most
	// completions; tiktoken-go costs from ~150 ns a byte (one long word) to
	// a few µs (random bytes, one-letter words: a regex match and
	// allocations per piece), so no input costs more than a fraction of a
	// second of CPU (BenchmarkCountAdversarial).
	exactBudget = 128 << 10
)

// encodeHook, when set (tests), sees every segment handed to tiktoken.
var encodeHook func(seg string)

// isCut reports whether s may be cut before s[i]: tiktoken's pre-split
// pattern never puts a space that follows a non-space in the same piece as
// what precedes it.
func isCut(s string, i int) bool {
	return s[i] == ' ' && !isSpace(s[i-1])
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

// nextSegment returns the length of the first segment of s: the shortest
// prefix of at least segSize bytes ending at a cut, the text before a run
// of more than maxRun bytes without one (or that run's first maxRun bytes),
// or all of s.
func nextSegment(s string) int {
	runStart := 0
	for i := 1; i < len(s); i++ {
		switch {
		case isCut(s, i):
			runStart = i
			if i >= segSize {
				return i
			}
		case i-runStart >= maxRun && (utf8.RuneStart(s[i]) || i-runStart >= maxRun+utf8.UTFMax):
			// Forced, at a rune boundary (or anywhere in bytes that are
			// not UTF-8: they count as replacement characters either
			// way). It ends the segment, so that tiktoken never sees the
			// run on both sides of it as one piece.
			if runStart > 0 {
				return runStart // the run starts a segment of its own
			}
			return i
		}
	}
	return len(s)
}

// budget is what is left of exactBudget for one count, and what was counted.
type budget struct {
	left          int
	bytes, tokens int // counted exactly
	skipped       int // bytes past the budget, estimated
}

func newBudget() budget { return budget{left: exactBudget} }

// add counts text exactly while the budget lasts and only measures the rest.
func (b *budget) add(e *encoding, text string) {
	for text != "" {
		if b.left <= 0 {
			b.skipped += len(text)
			return
		}
		n := nextSegment(text)
		b.encode(e, text[:n])
		text = text[n:]
	}
}

func (b *budget) encode(e *encoding, seg string) {
	if encodeHook != nil {
		encodeHook(seg)
	}
	b.left -= len(seg)
	b.bytes += len(seg)
	if tk := e.get(); tk != nil {
		// Special-token text such as "<|endoftext|>" counts as ordinary
		// text, as in one-api's Encode(text, nil, nil).
		b.tokens += len(tk.EncodeOrdinary(seg))
	} else {
		b.tokens += (len(seg) + 3) / 4
	}
}

// total is the exact count plus the skipped bytes at the counted rate.
func (b *budget) total() int {
	if b.skipped == 0 || b.bytes == 0 {
		return b.tokens
	}
	return b.tokens + int((int64(b.skipped)*int64(b.tokens)+int64(b.bytes)-1)/int64(b.bytes))
}
