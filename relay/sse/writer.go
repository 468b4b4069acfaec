package sse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"one-api/relay/openai"
)

// SetHeaders sets the response headers of an event stream. X-Accel-Buffering
// stops nginx from holding events back.
func SetHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
}

// Writer sends events to a client, each in one Write followed by a flush,
// so the client sees every event as soon as it is relayed.
type Writer struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
}

// NewWriter returns a Writer on w. w should support flushing (directly or
// through Unwrap, see http.ResponseController); if it does not, events are
// still written and Data reports http.ErrNotSupported.
func NewWriter(w http.ResponseWriter) *Writer {
	return &Writer{w: w, rc: http.NewResponseController(w)}
}

// Data sends one event with payload as its data. A payload with newlines
// (upstream data lines joined by Reader) is sent as several data lines, so
// the client reads back the same payload.
func (w *Writer) Data(payload []byte) error { return w.Event(nil, payload) }

// Event sends one event named name (no "event:" line when name is empty)
// with payload as its data: the typed events of OpenAI's Responses API and
// Anthropic's Messages API go out under their own names.
func (w *Writer) Event(name, payload []byte) error {
	b := w.buf[:0]
	if len(name) > 0 {
		b = append(append(append(b, "event: "...), name...), '\n')
	}
	for {
		b = append(b, "data: "...)
		i := bytes.IndexByte(payload, '\n')
		if i < 0 {
			b = append(b, payload...)
			break
		}
		b = append(append(b, payload[:i]...), '\n')
		payload = payload[i+1:]
	}
	b = append(b, "\n\n"...)
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("sse: write event: %w", err)
	}
	if err := w.rc.Flush(); err != nil {
		return fmt.Errorf("sse: flush event: %w", err)
	}
	return nil
}

// Done sends the end-of-stream event "data: [DONE]". Send it only when the
// upstream stream really finished; a cut stream ends with Error instead.
func (w *Writer) Done() error { return w.Data(doneMarker) }

// Error sends an OpenAI-format error object as a data event, the way OpenAI
// reports a failure after a stream has started (the status is already sent).
func (w *Writer) Error(e openai.Error) error {
	payload, err := json.Marshal(openai.ErrorResponse{Error: e})
	if err != nil {
		return fmt.Errorf("sse: encode error event: %w", err)
	}
	return w.Data(payload)
}
