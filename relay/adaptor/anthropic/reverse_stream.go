package anthropic

import (
	"encoding/json"
	"fmt"

	"one-api/relay/adaptor"
	"one-api/relay/openai"
)

// ReverseStream turns OpenAI chat chunks into the Messages API's named
// events: message_start on the first chunk; per content block a
// content_block_start, its deltas (text_delta, or input_json_delta for a
// tool call's arguments) and a content_block_stop, a block being closed
// when the next one starts; then message_delta (stop reason and usage) and
// message_stop once the finish_reason and include_usage's usage chunk are
// in (or at the end of the stream, for an upstream that sends usage
// otherwise or not at all). Every payload it emits
// is an event's data whose "type" is the event's name; adaptor.Done after
// message_stop says the stream is complete (nothing is written for it).
type ReverseStream struct {
	st      *adaptor.State
	id      string
	started bool // message_start went out
	stop    string
	done    bool // message_stop went out
	usage   *openai.FullUsage

	blocks int  // content blocks started
	open   int  // the open block's index; -1 = none
	inText bool // the open block is text
	// tools maps an OpenAI tool call index to its block and id.
	tools map[int]toolBlock
	chunk struct {
		openai.ChatChunk
		Error *openai.Error `json:"error"`
	}
}

type toolBlock struct {
	index int
	id    string
}

// NewReverseStream returns a converter for one stream.
func NewReverseStream(st *adaptor.State) *ReverseStream {
	return &ReverseStream{st: st, open: -1}
}

// Usage is the upstream's usage, if it sent any.
func (s *ReverseStream) Usage() (openai.Usage, bool) {
	return s.usage.Billing(), s.usage != nil
}

// Event converts one chunk.
func (s *ReverseStream) Event(_, data []byte, emit adaptor.Emit) error {
	if s.done {
		return nil
	}
	c := &s.chunk
	c.ChatChunk, c.Error = openai.ChatChunk{}, nil
	if err := json.Unmarshal(data, c); err != nil {
		return fmt.Errorf("openai stream: %w", err)
	}
	if c.Error != nil {
		return &adaptor.UpstreamError{Err: *c.Error}
	}
	if err := s.start(emit, c.ID); err != nil {
		return err
	}
	if c.Usage != nil {
		s.usage = c.Usage
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue // n > 1 cannot be asked for on this route
		}
		if d := ch.Delta.Content; d != nil && *d != "" {
			if err := s.text(emit, *d); err != nil {
				return err
			}
		}
		for j, tc := range ch.Delta.ToolCalls {
			if err := s.tool(emit, j, &tc); err != nil {
				return err
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.stop = StopReason(*ch.FinishReason)
			if s.stop == StopEndTurn && len(s.tools) > 0 {
				s.stop = StopToolUse
			}
		}
	}
	// include_usage's chunk (no choices) comes last; a vendor that puts
	// usage on every chunk is finished by End, with the last count.
	if s.stop != "" && c.Usage != nil && len(c.Choices) == 0 {
		return s.finish(emit)
	}
	return nil
}

// End finishes a stream that ended after its finish_reason without a usage
// chunk; one that ended before it was cut.
func (s *ReverseStream) End(emit adaptor.Emit) error {
	if s.done {
		return nil
	}
	if s.stop == "" {
		return adaptor.ErrTruncated
	}
	return s.finish(emit)
}

func (s *ReverseStream) start(emit adaptor.Emit, upstreamID string) error {
	if s.started {
		return nil
	}
	s.started = true
	s.id = messageID(s.st, upstreamID)
	return s.emitJSON(emit, struct {
		Type    string   `json:"type"`
		Message Response `json:"message"`
	}{EventMessageStart, Response{ID: s.id, Type: "message", Role: "assistant", Model: s.st.Model, Content: []ContentBlock{}}})
}

// text appends to the open text block, opening one if needed.
func (s *ReverseStream) text(emit adaptor.Emit, text string) error {
	if s.open < 0 || !s.inText {
		if err := s.openBlock(emit, true, struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{BlockText, ""}); err != nil {
			return err
		}
	}
	return s.delta(emit, s.open, StreamDelta{Type: "text_delta", Text: text})
}

// tool handles one tool call fragment: a new id (or a first fragment of a
// new OpenAI index) opens a tool_use block; arguments go to the block of
// their call, even one already closed (parallel calls interleaved), as
// the SDKs accumulate by index.
func (s *ReverseStream) tool(emit adaptor.Emit, pos int, tc *openai.ToolCall) error {
	idx := pos
	if tc.Index != nil {
		idx = *tc.Index
	}
	b, known := s.tools[idx]
	if !known || tc.ID != "" && tc.ID != b.id {
		id := tc.ID
		if id == "" {
			id = "toolu_" + s.st.ID()
		}
		if err := s.openBlock(emit, false, ContentBlock{Type: BlockToolUse, ID: id, Name: tc.Function.Name, Input: json.RawMessage(`{}`)}); err != nil {
			return err
		}
		b = toolBlock{index: s.open, id: id}
		if s.tools == nil {
			s.tools = make(map[int]toolBlock)
		}
		s.tools[idx] = b
	}
	if tc.Function.Arguments == "" {
		return nil
	}
	return s.delta(emit, b.index, StreamDelta{Type: "input_json_delta", PartialJSON: tc.Function.Arguments})
}

// openBlock closes the open block and starts the next.
func (s *ReverseStream) openBlock(emit adaptor.Emit, text bool, block any) error {
	if err := s.closeBlock(emit); err != nil {
		return err
	}
	s.open, s.inText = s.blocks, text
	s.blocks++
	return s.emitJSON(emit, struct {
		Type         string `json:"type"`
		Index        int    `json:"index"`
		ContentBlock any    `json:"content_block"`
	}{EventContentBlockStart, s.open, block})
}

func (s *ReverseStream) closeBlock(emit adaptor.Emit) error {
	if s.open < 0 {
		return nil
	}
	i := s.open
	s.open = -1
	return s.emitJSON(emit, struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}{EventContentBlockStop, i})
}

func (s *ReverseStream) delta(emit adaptor.Emit, index int, d StreamDelta) error {
	return s.emitJSON(emit, struct {
		Type  string      `json:"type"`
		Index int         `json:"index"`
		Delta StreamDelta `json:"delta"`
	}{EventContentBlockDelta, index, d})
}

// finish closes the open block and sends message_delta, message_stop and
// adaptor.Done. message_delta's usage is cumulative and, as Anthropic's
// own, carries the input counts that message_start could not know.
func (s *ReverseStream) finish(emit adaptor.Emit) error {
	if err := s.start(emit, ""); err != nil {
		return err
	}
	if err := s.closeBlock(emit); err != nil {
		return err
	}
	u := AnthropicUsage(s.usage)
	usage := struct {
		InputTokens          *int `json:"input_tokens,omitempty"`
		CacheReadInputTokens *int `json:"cache_read_input_tokens,omitempty"`
		OutputTokens         int  `json:"output_tokens"`
	}{OutputTokens: u.OutputTokens}
	if s.usage != nil {
		usage.InputTokens, usage.CacheReadInputTokens = &u.InputTokens, &u.CacheReadInputTokens
	}
	stop := s.stop
	if err := s.emitJSON(emit, struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason   *string `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage any `json:"usage"`
	}{Type: EventMessageDelta, Delta: struct {
		StopReason   *string `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}{StopReason: &stop}, Usage: usage}); err != nil {
		return err
	}
	s.done = true
	if err := emit([]byte(`{"type":"message_stop"}`)); err != nil {
		return err
	}
	return emit(adaptor.Done)
}

func (s *ReverseStream) emitJSON(emit adaptor.Emit, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return emit(b)
}
