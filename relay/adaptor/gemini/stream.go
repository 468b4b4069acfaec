package gemini

import (
	"encoding/json"
	"fmt"

	"one-api/relay/adaptor"
	"one-api/relay/openai"
)

// StreamConverter turns the events of streamGenerateContent?alt=sse (each a
// whole GenerateContentResponse holding the next piece) into OpenAI chat
// chunks. Gemini sends function calls whole, so each becomes one tool call
// delta with its arguments complete. Gemini's stream has no end marker:
// the event with a finishReason is the last, and End then sends the usage
// chunk (when asked for) and [DONE]; an EOF before it is a cut stream.
type StreamConverter struct {
	st       *adaptor.State
	id       string
	usage    *UsageMetadata
	finished bool
	started  bool
	tools    int
	ev       Response
}

// NewStream returns a converter for one stream.
func NewStream(st *adaptor.State) *StreamConverter {
	return &StreamConverter{st: st, id: "chatcmpl-" + st.ID()}
}

// Usage is the last usageMetadata seen (Gemini's counts are cumulative).
func (s *StreamConverter) Usage() (openai.Usage, bool) {
	if s.usage == nil {
		return openai.Usage{}, false
	}
	return OpenAIUsage(s.usage).Billing(), true
}

// Event converts one event.
func (s *StreamConverter) Event(_, data []byte, emit adaptor.Emit) error {
	ev := &s.ev
	*ev = Response{}
	if err := json.Unmarshal(data, ev); err != nil {
		return fmt.Errorf("gemini stream: %w", err)
	}
	if ev.UsageMetadata != nil {
		s.usage = ev.UsageMetadata
	}
	if len(ev.Candidates) == 0 {
		if ev.PromptFeedback != nil && ev.PromptFeedback.BlockReason != "" {
			s.finished = true
			fr := openai.FinishContentFilter
			return s.chunk(emit, 0, s.first(openai.Delta{}), &fr)
		}
		return nil
	}
	for i := range ev.Candidates {
		c := &ev.Candidates[i]
		d := openai.Delta{}
		var text []byte
		for _, p := range c.Content.Parts {
			switch {
			case p.FunctionCall != nil:
				n := s.tools
				s.tools++
				args := string(p.FunctionCall.Args)
				if args == "" {
					args = "{}"
				}
				id := p.FunctionCall.ID
				if id == "" {
					id = "call_" + s.st.ID()
				}
				d.ToolCalls = append(d.ToolCalls, openai.ToolCall{Index: &n, ID: id, Type: "function",
					Function: openai.FunctionCall{Name: p.FunctionCall.Name, Arguments: args}})
			case p.Thought:
				d.ReasoningContent += p.Text
			default:
				text = append(text, p.Text...)
			}
		}
		if len(text) > 0 {
			t := string(text)
			d.Content = &t
		}
		var fr *string
		if c.FinishReason != "" {
			s.finished = true
			r := FinishReason(c.FinishReason, s.tools > 0)
			fr = &r
		}
		if d.Content == nil && d.ReasoningContent == "" && d.ToolCalls == nil && fr == nil {
			continue
		}
		if err := s.chunk(emit, c.Index, s.first(d), fr); err != nil {
			return err
		}
	}
	return nil
}

// first adds the assistant role to the first delta, as OpenAI sends it.
func (s *StreamConverter) first(d openai.Delta) openai.Delta {
	if !s.started {
		s.started = true
		d.Role = "assistant"
	}
	return d
}

// End sends the usage chunk (when asked for) and [DONE] after a finished
// stream.
func (s *StreamConverter) End(emit adaptor.Emit) error {
	if !s.finished {
		return adaptor.ErrTruncated
	}
	if s.st.IncludeUsage {
		u := OpenAIUsage(s.usage)
		if u == nil {
			u = &openai.FullUsage{}
		}
		c := openai.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.st.Created, Model: s.st.Model,
			Choices: []openai.ChunkChoice{}, Usage: u}
		b, err := json.Marshal(&c)
		if err != nil {
			return err
		}
		if err := emit(b); err != nil {
			return err
		}
	}
	return emit(adaptor.Done)
}

func (s *StreamConverter) chunk(emit adaptor.Emit, index int, d openai.Delta, finish *string) error {
	c := openai.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.st.Created, Model: s.st.Model,
		Choices: []openai.ChunkChoice{{Index: index, Delta: d, FinishReason: finish}}}
	b, err := json.Marshal(&c)
	if err != nil {
		return err
	}
	return emit(b)
}
