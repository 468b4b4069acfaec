// Package sse reads the server-sent event streams of upstream providers and
// writes them to clients. It is the one SSE implementation in the gateway:
// every stream goes through Reader, so the line limit, the [DONE] marker and
// the difference between a finished and a cut stream are handled once.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxLineSize bounds a line (and an event's data). bufio.Scanner's
// 64 KiB default cuts real responses (one-api used it); a chunk carrying a
// base64 image or a long tool-call argument can pass 1 MiB. The buffer grows
// only as far as the longest line seen, so a high limit costs nothing until
// used.
const DefaultMaxLineSize = 4 << 20

const (
	initialBufSize = 4 << 10
	minRead        = 512
	maxEmptyReads  = 100 // like bufio: a reader stuck returning 0, nil is broken
)

var (
	// ErrLineTooLong means a line or an event's data exceeded the limit.
	ErrLineTooLong = errors.New("sse: line exceeds the size limit")
	// ErrTruncated means the stream ended in the middle of an event: the
	// upstream connection was cut. It wraps io.ErrUnexpectedEOF.
	ErrTruncated = fmt.Errorf("sse: stream ended mid-event: %w", io.ErrUnexpectedEOF)
)

var doneMarker = []byte("[DONE]")

// Event is one dispatched event. Its slices are only valid until the next
// call to Next.
type Event struct {
	Name []byte // value of the "event:" field, nil when there was none
	Data []byte // data lines joined with "\n"
	// Done marks the OpenAI end-of-stream event "data: [DONE]". It is not
	// JSON; after it Next returns io.EOF without reading further.
	Done bool
}

// Reader yields the events of a stream one at a time. Lines end in "\n" or
// "\r\n" (a lone "\r" is not a line ending: no OpenAI-compatible server sends
// one); comments and the id and retry fields are recognised and skipped.
type Reader struct {
	rd      io.Reader
	max     int
	buf     []byte
	start   int   // first unconsumed byte
	end     int   // end of buffered bytes
	readErr error // from rd, returned once the buffer is drained
	err     error // sticky result once the stream is over
	sawDone bool

	// The event being assembled. A single data line (the usual case) stays
	// in buf as buf[dataStart:dataEnd]; more lines are joined in own.
	hasData   bool
	owned     bool
	dataStart int
	dataEnd   int
	own       []byte
	name      []byte
	hasName   bool
}

// NewReader returns a Reader with DefaultMaxLineSize.
func NewReader(r io.Reader) *Reader { return NewReaderSize(r, DefaultMaxLineSize) }

// NewReaderSize returns a Reader whose lines and event data may be at most
// maxLine bytes (line endings not counted).
func NewReaderSize(r io.Reader, maxLine int) *Reader {
	if maxLine < 1 {
		maxLine = DefaultMaxLineSize
	}
	return &Reader{rd: r, max: maxLine}
}

// SawDone reports whether the stream's [DONE] event was read. OpenAI always
// ends a stream with it, so a relay may treat a clean EOF without it as cut.
func (r *Reader) SawDone() bool { return r.sawDone }

// Next returns the next event. It returns io.EOF only when the stream ended
// cleanly: after [DONE], or at end of input with no event data pending.
// Every other error means the stream did not finish: ErrTruncated (end of
// input mid-event), ErrLineTooLong, or the upstream read error, wrapped.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	r.hasData, r.owned, r.hasName = false, false, false
	r.own, r.name = r.own[:0], r.name[:0]
	for {
		line, ok, err := r.readLine()
		if err != nil {
			return r.fail(err)
		}
		if !ok {
			return r.finish()
		}
		if len(line) == 0 {
			if r.hasData {
				return r.dispatch(), nil
			}
			r.hasName = false // an event without data is not dispatched
			continue
		}
		if err := r.field(line); err != nil {
			return r.fail(err)
		}
	}
}

func (r *Reader) fail(err error) (Event, error) {
	r.err = err
	return Event{}, err
}

// finish handles end of input: clean at an event boundary, [DONE] even
// without its blank line, cut otherwise.
func (r *Reader) finish() (Event, error) {
	if !r.hasData {
		return r.fail(io.EOF)
	}
	if bytes.Equal(r.data(), doneMarker) {
		return r.dispatch(), nil
	}
	return r.fail(ErrTruncated)
}

func (r *Reader) data() []byte {
	if r.owned {
		return r.own
	}
	// Capped, so a caller appending to Data cannot overwrite buffered input.
	return r.buf[r.dataStart:r.dataEnd:r.dataEnd]
}

func (r *Reader) dispatch() Event {
	ev := Event{Data: r.data()}
	if r.hasName {
		ev.Name = r.name
	}
	if bytes.Equal(ev.Data, doneMarker) {
		ev.Done = true
		r.sawDone = true
		r.err = io.EOF
	}
	return ev
}

// field processes one non-empty line of the event being assembled. line
// lies in buf, so a data value can be kept by offset.
func (r *Reader) field(line []byte) error {
	if line[0] == ':' {
		return nil // comment, e.g. a keep-alive
	}
	name, value := line, line[len(line):]
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if !r.hasData {
			r.hasData = true
			r.dataStart, r.dataEnd = r.offset(value), r.offset(value)+len(value)
			return nil
		}
		if !r.owned {
			r.own = append(r.own[:0], r.buf[r.dataStart:r.dataEnd]...)
			r.owned = true
		}
		if len(r.own)+1+len(value) > r.max {
			return fmt.Errorf("%w: event data over %d bytes", ErrLineTooLong, r.max)
		}
		r.own = append(append(r.own, '\n'), value...)
	case "event":
		r.name = append(r.name[:0], value...)
		r.hasName = true
	}
	return nil
}

// offset is the index in buf at which v, a sub-slice of buf, starts.
func (r *Reader) offset(v []byte) int {
	return cap(r.buf) - cap(v)
}

// readLine returns the next line without its ending, reading more input as
// needed. ok is false at end of input, after any unterminated last line has
// been returned as a line.
func (r *Reader) readLine() (line []byte, ok bool, err error) {
	for {
		if i := bytes.IndexByte(r.buf[r.start:r.end], '\n'); i >= 0 {
			line = r.buf[r.start : r.start+i]
			r.start += i + 1
			if len(line) > r.max {
				return nil, false, fmt.Errorf("%w: line over %d bytes", ErrLineTooLong, r.max)
			}
			return trimCR(line), true, nil
		}
		if r.end-r.start > r.max {
			return nil, false, fmt.Errorf("%w: line over %d bytes", ErrLineTooLong, r.max)
		}
		if r.readErr != nil {
			if r.readErr != io.EOF {
				return nil, false, fmt.Errorf("sse: read upstream: %w", r.readErr)
			}
			if r.start < r.end {
				// The last line has no line ending; take it as a line so
				// that a final "data: [DONE]" still counts.
				line = r.buf[r.start:r.end]
				r.start = r.end
				return trimCR(line), true, nil
			}
			return nil, false, nil
		}
		r.fill()
	}
}

func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

// fill reads more input into buf, making room first. It never moves a
// pending data line: before the bytes under it are reused, that line is
// copied to own.
func (r *Reader) fill() {
	if len(r.buf)-r.end < minRead {
		r.makeRoom()
	}
	for range maxEmptyReads {
		n, err := r.rd.Read(r.buf[r.end:])
		r.end += n
		if err != nil {
			r.readErr = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.readErr = io.ErrNoProgress
}

func (r *Reader) makeRoom() {
	if r.start > 0 {
		if r.hasData && !r.owned {
			r.own = append(r.own[:0], r.buf[r.dataStart:r.dataEnd]...)
			r.owned = true
		}
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
		if len(r.buf)-r.end >= minRead {
			return
		}
	}
	// Room for the longest allowed line plus "\r\n", and a read beyond it.
	// readLine fails a partial line over max before asking for more, so
	// this size always leaves at least minRead free.
	size := min(max(2*len(r.buf), initialBufSize), r.max+2+minRead)
	grown := make([]byte, size)
	copy(grown, r.buf[:r.end])
	r.buf = grown
}
