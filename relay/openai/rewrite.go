package openai

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Rewrite returns body with its model set to model and, when
// forceIncludeUsage is set and the body asks for a stream, with
// stream_options.include_usage set to true, so upstream reports usage for
// billing. (OpenAI rejects stream_options on a non-stream request, hence the
// condition.)
//
// When nothing needs changing it returns body itself: same slice, no
// allocation. Otherwise it returns a new slice in which only those values
// change: every other byte of the body is kept, in order. Members it has to
// add (a missing model or stream_options) go first in their object, so the
// key order differs from the client's only by that insertion. Every duplicate
// "model" member is rewritten; stream_options is edited in its last
// occurrence, the one JSON parsers keep.
func Rewrite(body []byte, model string, forceIncludeUsage bool) ([]byte, error) {
	// First pass: decide, without allocating, whether anything changes.
	var (
		members, models int
		modelSame       = true
		stream          bool
		opts            member
		haveOpts        bool
	)
	err := topLevel(body, func(b []byte, m member) error {
		members++
		switch {
		case m.keyIs("model"):
			models++
			if !stringEquals(b, m.valStart, m.valEnd, model) {
				modelSame = false
			}
		case m.keyIs("stream"):
			stream = string(b[m.valStart:m.valEnd]) == "true"
		case m.keyIs("stream_options"):
			opts, haveOpts = m, true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rewrite request: %w: %w", ErrInvalidJSON, err)
	}
	optsIsObject := haveOpts && body[opts.valStart] == '{'
	fixUsage := false
	if forceIncludeUsage && stream {
		fixUsage = true
		if optsIsObject {
			// Already validated by the first pass, so this cannot fail.
			u, _ := includeUsage(body, opts.valStart, opts.valEnd)
			fixUsage = !u
		}
	}
	fixModel := models == 0 || !modelSame
	if !fixModel && !fixUsage {
		return body, nil
	}

	var edits []edit
	var front [][]byte // members to insert after the top-level '{'
	if fixModel {
		quoted, err := json.Marshal(model)
		if err != nil {
			return nil, fmt.Errorf("rewrite request: quote model: %w", err)
		}
		if models == 0 {
			front = append(front, append([]byte(`"model":`), quoted...))
		}
		topLevel(body, func(b []byte, m member) error {
			if m.keyIs("model") {
				edits = append(edits, edit{m.valStart, m.valEnd, quoted})
			}
			return nil
		})
	}
	if fixUsage {
		const usageObject = `{"include_usage":true}`
		switch {
		case !haveOpts:
			front = append(front, []byte(`"stream_options":`+usageObject))
		case !optsIsObject: // null or some other non-object: replace it
			edits = append(edits, edit{opts.valStart, opts.valEnd, []byte(usageObject)})
		default:
			edits = append(edits, usageEdits(body, opts)...)
		}
	}
	if len(front) > 0 {
		ins := slicesJoin(front, ',')
		if members > 0 {
			ins = append(ins, ',')
		}
		at := skipWS(body, 0) + 1
		edits = append(edits, edit{at, at, ins})
	}
	return applyEdits(body, edits), nil
}

// usageEdits sets include_usage to true in the stream_options object opts:
// every occurrence of the key, or a new first member when there is none.
func usageEdits(body []byte, opts member) []edit {
	var edits []edit
	fields := 0
	eachMember(body, opts.valStart, 2, func(b []byte, m member) error {
		fields++
		if m.keyIs("include_usage") {
			edits = append(edits, edit{m.valStart, m.valEnd, []byte("true")})
		}
		return nil
	})
	if len(edits) > 0 {
		return edits
	}
	ins := []byte(`"include_usage":true`)
	if fields > 0 {
		ins = append(ins, ',')
	}
	at := skipWS(body, opts.valStart+1)
	return []edit{{at, at, ins}}
}

func slicesJoin(parts [][]byte, sep byte) []byte {
	var out []byte
	for i, p := range parts {
		if i > 0 {
			out = append(out, sep)
		}
		out = append(out, p...)
	}
	return out
}

// edit replaces body[start:end] with text (an insertion when start == end).
type edit struct {
	start, end int
	text       []byte
}

func applyEdits(body []byte, edits []edit) []byte {
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	size := len(body)
	for _, e := range edits {
		size += len(e.text) - (e.end - e.start)
	}
	out := make([]byte, 0, size)
	at := 0
	for _, e := range edits {
		out = append(out, body[at:e.start]...)
		out = append(out, e.text...)
		at = e.end
	}
	return append(out, body[at:]...)
}

// stringEquals reports whether the JSON value at b[start:end] is the string s.
func stringEquals(b []byte, start, end int, s string) bool {
	raw, escaped, ok := stringValue(b, start, end)
	if !ok {
		return false
	}
	if !escaped {
		return string(raw) == s
	}
	var buf [128]byte
	return string(appendUnescaped(buf[:0], raw)) == s
}
