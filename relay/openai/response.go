package openai

import "strconv"

// Usage is the token accounting upstream reports.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// ExtractUsage reads the top-level "usage" object of a non-stream response
// body or of one stream chunk's data (the final chunk of a stream asked for
// with include_usage carries it). ok is false when there is no usage object
// with at least one token count, or the JSON is malformed.
func ExtractUsage(data []byte) (u Usage, ok bool) {
	err := topLevel(data, func(b []byte, m member) error {
		if m.keyIs("usage") && b[m.valStart] == '{' {
			u, ok = readUsage(b, m.valStart) // the last "usage" wins
		}
		return nil
	})
	if err != nil {
		return Usage{}, false
	}
	return u, ok
}

// readUsage reads the usage object starting at b[start] ('{'). ok is false
// without at least one token count.
func readUsage(b []byte, start int) (u Usage, ok bool) {
	eachMember(b, start, 2, func(b []byte, f member) error {
		v := b[f.valStart:f.valEnd]
		switch {
		case f.keyIs("prompt_tokens"):
			u.PromptTokens, ok = tokenCount(v), true
		case f.keyIs("completion_tokens"):
			u.CompletionTokens, ok = tokenCount(v), true
		case f.keyIs("total_tokens"):
			u.TotalTokens, ok = tokenCount(v), true
		}
		return nil
	})
	if ok && u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	return u, ok
}

// tokenCount reads a count that should be an integer; a float some
// compatible servers send is truncated, anything else is 0.
func tokenCount(v []byte) int {
	if n, ok := parseCount(v); ok {
		return n
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f < 0 || f > 1<<31 {
		return 0
	}
	return int(f)
}

// IsUsageOnlyChunk reports whether a stream chunk is the usage report that
// include_usage adds at the end ("choices": [] and a usage object), which the
// gateway strips when it asked for usage on the client's behalf.
func IsUsageOnlyChunk(data []byte) bool {
	emptyChoices, usage := false, false
	err := topLevel(data, func(b []byte, m member) error {
		switch {
		case m.keyIs("choices"):
			emptyChoices = b[m.valStart] == '[' && skipWS(b, m.valStart+1) == m.valEnd-1
		case m.keyIs("usage"):
			usage = b[m.valStart] == '{'
		}
		return nil
	})
	return err == nil && emptyChoices && usage
}

// AppendCompletionText appends the generated text of a stream chunk or a
// non-stream response to dst, for counting completion tokens when upstream
// reports no usage. For every choice it takes delta (stream) or message
// (non-stream) content, reasoning_content and tool call arguments, and the
// "text" of legacy completions; one-api counted only content and text, which
// under-bills reasoning and tool calls. Malformed JSON adds nothing.
func AppendCompletionText(dst, data []byte) []byte {
	n := len(dst)
	err := topLevel(data, func(b []byte, m member) error {
		if m.keyIs("choices") && b[m.valStart] == '[' {
			dst = appendChoicesText(dst, b, m.valStart)
		}
		return nil
	})
	if err != nil {
		return dst[:n]
	}
	return dst
}

// Chunk is what billing needs from one stream chunk.
type Chunk struct {
	Usage     Usage
	HasUsage  bool // as ExtractUsage's ok
	UsageOnly bool // as IsUsageOnlyChunk
}

// ReadChunk reads one stream chunk's data in a single pass: its usage (as
// ExtractUsage), whether it carries usage and no choices (as
// IsUsageOnlyChunk), and its generated text appended to dst (as
// AppendCompletionText). A relayed stream scans every chunk once instead of
// three times (issue 13).
func ReadChunk(dst, data []byte) ([]byte, Chunk) {
	n := len(dst)
	var c Chunk
	emptyChoices, usageObject := false, false
	err := topLevel(data, func(b []byte, m member) error {
		switch {
		case m.keyIs("choices"):
			emptyChoices = b[m.valStart] == '[' && skipWS(b, m.valStart+1) == m.valEnd-1
			if b[m.valStart] == '[' {
				dst = appendChoicesText(dst, b, m.valStart)
			}
		case m.keyIs("usage"):
			usageObject = b[m.valStart] == '{'
			if usageObject {
				c.Usage, c.HasUsage = readUsage(b, m.valStart)
			}
		}
		return nil
	})
	if err != nil {
		return dst[:n], Chunk{}
	}
	c.UsageOnly = emptyChoices && usageObject
	return dst, c
}

// appendChoicesText appends the text of every choice in the array starting
// at b[start] ('[').
func appendChoicesText(dst, b []byte, start int) []byte {
	eachElement(b, start, 2, func(b []byte, start, _ int) error {
		if b[start] != '{' {
			return nil
		}
		eachMember(b, start, 3, func(b []byte, f member) error {
			switch {
			case f.keyIs("text"):
				dst = appendStringValue(dst, b, f.valStart, f.valEnd)
			case f.keyIs("delta"), f.keyIs("message"):
				dst = appendMessageText(dst, b, f.valStart)
			}
			return nil
		})
		return nil
	})
	return dst
}

func appendMessageText(dst, b []byte, start int) []byte {
	if b[start] != '{' {
		return dst
	}
	eachMember(b, start, 4, func(b []byte, f member) error {
		switch {
		case f.keyIs("content"), f.keyIs("reasoning_content"):
			dst = appendStringValue(dst, b, f.valStart, f.valEnd)
		case f.keyIs("tool_calls"):
			if b[f.valStart] != '[' {
				return nil
			}
			eachElement(b, f.valStart, 5, func(b []byte, s, _ int) error {
				dst = appendToolCallArguments(dst, b, s)
				return nil
			})
		}
		return nil
	})
	return dst
}

func appendToolCallArguments(dst, b []byte, start int) []byte {
	if b[start] != '{' {
		return dst
	}
	eachMember(b, start, 6, func(b []byte, f member) error {
		if !f.keyIs("function") || b[f.valStart] != '{' {
			return nil
		}
		eachMember(b, f.valStart, 7, func(b []byte, a member) error {
			if a.keyIs("arguments") {
				dst = appendStringValue(dst, b, a.valStart, a.valEnd)
			}
			return nil
		})
		return nil
	})
	return dst
}

func appendStringValue(dst, b []byte, start, end int) []byte {
	raw, escaped, ok := stringValue(b, start, end)
	if !ok {
		return dst
	}
	return appendString(dst, raw, escaped)
}
