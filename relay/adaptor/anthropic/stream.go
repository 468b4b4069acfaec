package anthropic

import (
	"encoding/json"
	"fmt"
	"strings"

	"one-api/relay/adaptor"
	"one-api/relay/openai"
)

// StreamConverter turns Anthropic's named stream events into OpenAI chat
// chunks: message_start → a role chunk, text and thinking deltas →
// content and reasoning_content, a tool_use block → a tool call with its
// id and name and then its arguments as input_json_delta fragments,
// message_delta → the finish_reason chunk, message_stop → the usage chunk
// (when the client asked for include_usage) and [DONE]. ping is dropped;
// error ends the stream with an *adaptor.UpstreamError.
type StreamConverter struct {
	st       *adaptor.State
	id       string
	usage    Usage
	gotUsage bool
	stopped  bool // message_delta carried a stop reason
	done     bool // message_stop was converted
	// toolIndex maps a content block index to its OpenAI tool call index.
	toolIndex map[int]int
	tools     int
	ev        StreamEvent
}

// NewStream returns a converter for one stream.
func NewStream(st *adaptor.State) *StreamConverter {
	return &StreamConverter{st: st, id: "chatcmpl-" + st.ID()}
}

// Usage is the usage reported so far.
func (s *StreamConverter) Usage() (openai.Usage, bool) {
	return OpenAIUsage(s.usage).Billing(), s.gotUsage
}

// Event converts one event. The event name is not needed: every data
// object repeats it in "type".
func (s *StreamConverter) Event(_, data []byte, emit adaptor.Emit) error {
	ev := &s.ev
	*ev = StreamEvent{}
	if err := json.Unmarshal(data, ev); err != nil {
		return fmt.Errorf("anthropic stream: %w", err)
	}
	switch ev.Type {
	case EventMessageStart:
		if ev.Message != nil {
			if ev.Message.ID != "" {
				s.id = "chatcmpl-" + strings.TrimPrefix(ev.Message.ID, "msg_")
			}
			s.addUsage(&ev.Message.Usage)
		}
		empty := ""
		return s.chunk(emit, openai.Delta{Role: "assistant", Content: &empty}, nil)
	case EventContentBlockStart:
		b := ev.ContentBlock
		if b == nil {
			return nil
		}
		switch b.Type {
		case BlockToolUse:
			i := s.tools
			s.tools++
			if s.toolIndex == nil {
				s.toolIndex = make(map[int]int)
			}
			s.toolIndex[ev.Index] = i
			return s.chunk(emit, openai.Delta{ToolCalls: []openai.ToolCall{{Index: &i, ID: b.ID, Type: "function",
				Function: openai.FunctionCall{Name: b.Name}}}}, nil)
		case BlockText:
			if b.Text != "" {
				return s.chunk(emit, openai.Delta{Content: &b.Text}, nil)
			}
		}
	case EventContentBlockDelta:
		d := ev.Delta
		if d == nil {
			return nil
		}
		switch d.Type {
		case "text_delta":
			return s.chunk(emit, openai.Delta{Content: &d.Text}, nil)
		case "thinking_delta":
			return s.chunk(emit, openai.Delta{ReasoningContent: d.Thinking}, nil)
		case "input_json_delta":
			i, ok := s.toolIndex[ev.Index]
			if !ok || d.PartialJSON == "" {
				return nil
			}
			return s.chunk(emit, openai.Delta{ToolCalls: []openai.ToolCall{{Index: &i,
				Function: openai.FunctionCall{Arguments: d.PartialJSON}}}}, nil)
		}
	case EventMessageDelta:
		if ev.Usage != nil {
			s.addUsage(ev.Usage)
		}
		if ev.Delta != nil && ev.Delta.StopReason != nil {
			s.stopped = true
			fr := FinishReason(*ev.Delta.StopReason)
			return s.chunk(emit, openai.Delta{}, &fr)
		}
	case EventMessageStop:
		return s.finish(emit)
	case EventError:
		e := openai.Error{Message: "upstream stream error", Type: openai.TypeUpstream}
		if ev.Error != nil {
			e = openai.Error{Message: ev.Error.Message, Type: ev.Error.Type, Code: ev.Error.Type}
		}
		return &adaptor.UpstreamError{Err: e}
	}
	return nil
}

// End handles EOF: Anthropic always ends with message_stop, after which
// finish has already sent [DONE].
func (s *StreamConverter) End(adaptor.Emit) error {
	if s.done {
		return nil
	}
	return adaptor.ErrTruncated
}

// finish sends the usage chunk the client asked for, then [DONE].
func (s *StreamConverter) finish(emit adaptor.Emit) error {
	if s.st.IncludeUsage {
		c := openai.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.st.Created, Model: s.st.Model,
			Choices: []openai.ChunkChoice{}, Usage: OpenAIUsage(s.usage)}
		if err := s.emitJSON(emit, &c); err != nil {
			return err
		}
	}
	s.done = true
	return emit(adaptor.Done)
}

// addUsage takes the counts of u: message_start carries the input, and
// message_delta's counts are cumulative, so a non-zero count replaces.
func (s *StreamConverter) addUsage(u *Usage) {
	s.gotUsage = true
	if u.InputTokens > 0 {
		s.usage.InputTokens = u.InputTokens
	}
	if u.OutputTokens > 0 {
		s.usage.OutputTokens = u.OutputTokens
	}
	if u.CacheCreationInputTokens > 0 {
		s.usage.CacheCreationInputTokens = u.CacheCreationInputTokens
	}
	if u.CacheReadInputTokens > 0 {
		s.usage.CacheReadInputTokens = u.CacheReadInputTokens
	}
}

func (s *StreamConverter) chunk(emit adaptor.Emit, d openai.Delta, finish *string) error {
	c := openai.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.st.Created, Model: s.st.Model,
		Choices: []openai.ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
	return s.emitJSON(emit, &c)
}

func (s *StreamConverter) emitJSON(emit adaptor.Emit, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return emit(b)
}
