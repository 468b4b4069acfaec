package openai

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// A small validating JSON scanner. The gateway reads a handful of top-level
// fields and must forward everything else byte for byte, so instead of
// decoding the body into Go values it walks the members of the top-level
// object and hands out the raw bytes of each value. It accepts exactly what
// encoding/json's Valid accepts (FuzzValid checks this), allocates nothing,
// and never recurses deeper than maxDepth.

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

var errDepth = errors.New("exceeded max nesting depth")

// syntaxError is a malformed-JSON finding at a byte offset.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

func errAt(b []byte, i int, what string) error {
	if i >= len(b) {
		return &syntaxError{off: i, msg: "unexpected end of input"}
	}
	return &syntaxError{off: i, msg: fmt.Sprintf("unexpected %q %s", b[i], what)}
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, errAt(b, i, "")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := skipString(b, i)
		return end, err
	case c == '{':
		return eachMember(b, i, depth+1, nil)
	case c == '[':
		return eachElement(b, i, depth+1, nil)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	}
	return i, errAt(b, i, "looking for a value")
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(b) || b[i+k] != lit[k] {
			return i + k, errAt(b, i+k, "in literal "+lit)
		}
	}
	return i + len(lit), nil
}

func skipNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i)
	default:
		return i, errAt(b, i, "in number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, errAt(b, i, "after decimal point")
		}
		i = skipDigits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, errAt(b, i, "in exponent")
		}
		i = skipDigits(b, i)
	}
	return i, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func skipDigits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// skipString returns the index past the closing quote of the string starting
// at b[i] and whether it contains escapes (then its bytes are not its value).
func skipString(b []byte, i int) (end int, escaped bool, err error) {
	i++ // opening quote
	for {
		if i = nextStringSpecial(b, i); i >= len(b) {
			return i, escaped, errAt(b, i, "")
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				return i, escaped, errAt(b, i, "")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				for k := 1; k <= 4; k++ {
					if i+k >= len(b) || !isHex(b[i+k]) {
						return i + k, escaped, errAt(b, i+k, "in \\u escape")
					}
				}
				i += 5
			default:
				return i, escaped, errAt(b, i, "in string escape")
			}
		default: // a control character
			return i, escaped, errAt(b, i, "in string literal")
		}
	}
}

// nextStringSpecial returns the index of the first quote, backslash or
// control character at or after b[i], or len(b). Plain bytes, most of a
// string (a response's content is most of what ExtractUsage scans), are
// stepped over eight at a time.
func nextStringSpecial(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := stringSpecials(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(b) && !isStringSpecial(b[i]) {
		i++
	}
	return i
}

func isStringSpecial(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }

const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// stringSpecials flags, in the high bit of each byte, the bytes of the
// little-endian word w that are a quote, a backslash or a control character
// (below 0x20). Each test is the "has a zero byte" / "has a byte less than
// n" bit trick: the lowest flag is always a real one (a borrow can only flag
// bytes above a real hit), and a word without one has no flag at all.
func stringSpecials(w uint64) uint64 {
	q := w ^ (lowBits * '"')
	bs := w ^ (lowBits * '\\')
	return ((q-lowBits)&^q | (bs-lowBits)&^bs | (w-lowBits*0x20)&^w) & highBits
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// member is one "key": value pair of an object; all fields index into the
// scanned buffer. key excludes the quotes; val is the raw value.
type member struct {
	key        []byte
	keyEscaped bool
	keyStart   int // index of the key's opening quote
	valStart   int
	valEnd     int
}

// eachMember walks the object starting at b[i] (which must be '{'), calling
// fn (when not nil) for every member in order, and returns the index just
// past the closing brace. The values of members are validated either way.
func eachMember(b []byte, i, depth int, fn func(b []byte, m member) error) (int, error) {
	if depth > maxDepth {
		return i, errDepth
	}
	if i >= len(b) || b[i] != '{' {
		return i, errAt(b, i, "looking for an object")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, errAt(b, i, "looking for an object key")
		}
		var m member
		m.keyStart = i
		end, esc, err := skipString(b, i)
		if err != nil {
			return end, err
		}
		m.key, m.keyEscaped = b[i+1:end-1], esc
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return i, errAt(b, i, "after object key")
		}
		i = skipWS(b, i+1)
		m.valStart = i
		if i, err = skipValue(b, i, depth); err != nil {
			return i, err
		}
		m.valEnd = i
		if fn != nil {
			if err := fn(b, m); err != nil {
				return i, err
			}
		}
		var done bool
		if i, done, err = nextItem(b, i, '}', "after object member"); err != nil || done {
			return i, err
		}
	}
}

// eachElement walks the array starting at b[i] (which must be '['), calling
// fn (when not nil) with the bounds of every element.
func eachElement(b []byte, i, depth int, fn func(b []byte, start, end int) error) (int, error) {
	if depth > maxDepth {
		return i, errDepth
	}
	if i >= len(b) || b[i] != '[' {
		return i, errAt(b, i, "looking for an array")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		start := i
		var err error
		if i, err = skipValue(b, i, depth); err != nil {
			return i, err
		}
		if fn != nil {
			if err := fn(b, start, i); err != nil {
				return i, err
			}
		}
		var done bool
		if i, done, err = nextItem(b, i, ']', "after array element"); err != nil || done {
			return i, err
		}
	}
}

// nextItem consumes what follows an object member or array element: a comma
// (i becomes the next item's start) or the closing byte (done, i just past it).
func nextItem(b []byte, i int, closing byte, what string) (next int, done bool, err error) {
	i = skipWS(b, i)
	if i >= len(b) {
		return i, false, errAt(b, i, "")
	}
	switch b[i] {
	case ',':
		return skipWS(b, i+1), false, nil
	case closing:
		return i + 1, true, nil
	}
	return i, false, errAt(b, i, what)
}

// topLevel walks the members of a body that must be exactly one JSON object.
func topLevel(b []byte, fn func(b []byte, m member) error) error {
	i := skipWS(b, 0)
	if i < len(b) && b[i] != '{' {
		// Still report malformed input as such rather than as a non-object.
		if end, err := skipValue(b, i, 0); err != nil {
			return err
		} else if j := skipWS(b, end); j != len(b) {
			return errAt(b, j, "after top-level value")
		}
		return errNotObject
	}
	end, err := eachMember(b, i, 1, fn)
	if err != nil {
		return err
	}
	if j := skipWS(b, end); j != len(b) {
		return errAt(b, j, "after top-level value")
	}
	return nil
}

var errNotObject = errors.New("body is not a JSON object")

// keyIs reports whether the member's key, unescaped, equals name.
func (m member) keyIs(name string) bool {
	if !m.keyEscaped {
		return string(m.key) == name
	}
	// Rare: an escaped key such as "mod\u0065l" still names the field for
	// upstream JSON parsers, so it must for us.
	var buf [64]byte
	return string(appendUnescaped(buf[:0], m.key)) == name
}

// stringValue returns the raw string contents of a string value (without
// quotes) and whether it needs unescaping; ok is false for non-strings.
func stringValue(b []byte, start, end int) (raw []byte, escaped, ok bool) {
	if end-start < 2 || b[start] != '"' {
		return nil, false, false
	}
	raw = b[start+1 : end-1]
	for _, c := range raw {
		if c == '\\' {
			return raw, true, true
		}
	}
	return raw, false, true
}

// appendString appends the decoded value of a string value to dst.
func appendString(dst, raw []byte, escaped bool) []byte {
	if !escaped {
		return append(dst, raw...)
	}
	return appendUnescaped(dst, raw)
}

// appendUnescaped decodes the contents of a valid JSON string literal
// (without quotes), the way encoding/json does: bad surrogates become U+FFFD.
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(s) {
			return dst
		}
		switch e := s[i+1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := decodeU(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += n
			continue
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

// decodeU decodes a \uXXXX escape (and its low surrogate when it is a valid
// pair) at the start of s, returning the rune and the bytes consumed.
func decodeU(s []byte) (rune, int) {
	r1, ok := hex4(s, 2)
	if !ok {
		return utf8.RuneError, len(s)
	}
	if utf16.IsSurrogate(r1) {
		if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
			if r2, ok := hex4(s, 8); ok {
				if r := utf16.DecodeRune(r1, r2); r != utf8.RuneError {
					return r, 12
				}
			}
		}
		return utf8.RuneError, 6
	}
	return r1, 6
}

func hex4(s []byte, at int) (rune, bool) {
	if len(s) < at+4 {
		return 0, false
	}
	var r rune
	for _, c := range s[at : at+4] {
		switch {
		case isDigit(c):
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
