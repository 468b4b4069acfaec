package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// ev is an Event with copied fields, for comparing.
type ev struct {
	name string // "" = no event field
	data string
	done bool
}

func (e ev) String() string { return fmt.Sprintf("{%q %q done=%v}", e.name, e.data, e.done) }

// readAll drains r, copying every event, and returns the final error.
func readAll(r *Reader) ([]ev, error) {
	var out []ev
	for {
		e, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, ev{string(e.Name), string(e.Data), e.Done})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []ev
		wantErr error
		sawDone bool
	}{
		{
			name:    "openai stream",
			in:      "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n",
			want:    []ev{{data: `{"a":1}`}, {data: `{"a":2}`}, {data: "[DONE]", done: true}},
			wantErr: io.EOF, sawDone: true,
		},
		{
			name:    "crlf and no space after colon",
			in:      "data:{\"a\":1}\r\n\r\ndata:[DONE]\r\n\r\n",
			want:    []ev{{data: `{"a":1}`}, {data: "[DONE]", done: true}},
			wantErr: io.EOF, sawDone: true,
		},
		{
			name:    "comments, event names, id and retry",
			in:      ": keep-alive\n\nevent: ping\n\nid: 7\nretry: 10\nevent: delta\n: mid-event comment\ndata: x\n\n",
			want:    []ev{{name: "delta", data: "x"}},
			wantErr: io.EOF,
		},
		{
			name:    "multi-line data is joined",
			in:      "data: a\ndata:\ndata:  b\n\n",
			want:    []ev{{data: "a\n\n b"}},
			wantErr: io.EOF,
		},
		{
			name:    "field without colon",
			in:      "data\n\n",
			want:    []ev{{data: ""}},
			wantErr: io.EOF,
		},
		{
			name:    "nothing after DONE is read",
			in:      "data: [DONE]\n\ndata: {\"late\":1}\n\n" + strings.Repeat("x", 100),
			want:    []ev{{data: "[DONE]", done: true}},
			wantErr: io.EOF, sawDone: true,
		},
		{
			name:    "DONE without its blank line",
			in:      "data: {}\n\ndata: [DONE]",
			want:    []ev{{data: "{}"}, {data: "[DONE]", done: true}},
			wantErr: io.EOF, sawDone: true,
		},
		{name: "empty stream", in: "", wantErr: io.EOF},
		{
			name:    "clean EOF at event boundary without DONE",
			in:      "data: 1\n\n",
			want:    []ev{{data: "1"}},
			wantErr: io.EOF,
		},
		{
			name:    "cut mid-line",
			in:      "data: 1\n\ndata: {\"choi",
			want:    []ev{{data: "1"}},
			wantErr: ErrTruncated,
		},
		{
			name:    "cut before blank line",
			in:      "data: 1\n\ndata: 2\n",
			want:    []ev{{data: "1"}},
			wantErr: ErrTruncated,
		},
		{
			name:    "line too long",
			in:      "data: 1\n\ndata: " + strings.Repeat("x", 60) + "\n\n",
			want:    []ev{{data: "1"}},
			wantErr: ErrLineTooLong,
		},
		{
			name:    "joined data too long",
			in:      strings.Repeat("data: 0123456789\n", 6) + "\n",
			wantErr: ErrLineTooLong,
		},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, 1 << 20} {
			t.Run(fmt.Sprintf("%s/chunk=%d", tt.name, chunk), func(t *testing.T) {
				r := NewReaderSize(&chunkReader{data: []byte(tt.in), n: chunk}, 64)
				got, err := readAll(r)
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("events = %v, want %v", got, tt.want)
				}
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				if g, w := r.SawDone(), tt.sawDone; g != w {
					t.Errorf("SawDone = %v, want %v", g, w)
				}
				if _, again := r.Next(); again != err {
					t.Errorf("second Next err = %v, want the same %v", again, err)
				}
			})
		}
	}
}

func TestReaderAppendToDataIsSafe(t *testing.T) {
	r := NewReader(strings.NewReader("data: a\n\ndata: b\n\n"))
	e, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	_ = append(e.Data, "XXXXXXXX"...)
	if e, err = r.Next(); err != nil || string(e.Data) != "b" {
		t.Errorf("second event = %q, %v; want \"b\"", e.Data, err)
	}
}

func TestReaderTruncatedIsUnexpectedEOF(t *testing.T) {
	_, err := readAll(NewReader(strings.NewReader("data: x")))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want it to wrap io.ErrUnexpectedEOF", err)
	}
}

func TestReaderUpstreamError(t *testing.T) {
	cut := errors.New("connection reset by peer")
	r := NewReader(io.MultiReader(strings.NewReader("data: 1\n\n"), iotest.ErrReader(cut)))
	got, err := readAll(r)
	if len(got) != 1 || !errors.Is(err, cut) {
		t.Errorf("got %v, %v; want one event then %v", got, err, cut)
	}
}

func TestReaderStuckUpstream(t *testing.T) {
	_, err := readAll(NewReader(&chunkReader{n: 0}))
	if !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("err = %v, want io.ErrNoProgress", err)
	}
}

func TestReaderLargeEvent(t *testing.T) {
	// Far beyond bufio.Scanner's 64 KiB default, within the 4 MiB default.
	payload := strings.Repeat("x", 3<<20)
	r := NewReader(&chunkReader{data: []byte("data: " + payload + "\n\ndata: [DONE]\n\n"), n: 32 << 10})
	got, err := readAll(r)
	if err != io.EOF || len(got) != 2 || got[0].data != payload || !got[1].done {
		t.Fatalf("got %d events, err %v", len(got), err)
	}
}

// chunkReader returns data n bytes per Read (n = 0: never any progress).
type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 && c.n > 0 {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

// reference parses a whole stream at once, the simple way, with the same
// rules Reader implements incrementally.
func reference(in []byte, maxLine int) ([]ev, error) {
	lines := bytes.Split(in, []byte("\n"))
	last := lines[len(lines)-1]
	lines = lines[:len(lines)-1]
	if len(last) > 0 {
		lines = append(lines, last) // unterminated last line
	}
	var out []ev
	var data []byte
	var name string
	hasData, hasName := false, false
	for _, line := range lines {
		if len(line) > maxLine {
			return out, ErrLineTooLong
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(line) == 0:
			if hasData {
				e := ev{data: string(data), done: string(data) == "[DONE]"}
				if hasName {
					e.name = name
				}
				out = append(out, e)
				if e.done {
					return out, io.EOF
				}
			}
			data, hasData, hasName = nil, false, false
		case line[0] == ':':
		default:
			f, v, found := bytes.Cut(line, []byte(":"))
			if found {
				v = bytes.TrimPrefix(v, []byte(" "))
			}
			switch string(f) {
			case "data":
				if hasData {
					data = append(append(data, '\n'), v...)
					if len(data) > maxLine {
						return out, ErrLineTooLong
					}
				} else {
					data, hasData = append([]byte{}, v...), true
				}
			case "event":
				name, hasName = string(v), true
			}
		}
	}
	switch {
	case !hasData:
		return out, io.EOF
	case string(data) == "[DONE]":
		e := ev{data: "[DONE]", done: true}
		if hasName {
			e.name = name
		}
		return append(out, e), io.EOF
	}
	return out, ErrTruncated
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("data: {\"a\":1}\n\ndata: [DONE]\n\n"), uint8(1), uint8(16))
	f.Add([]byte("event: e\r\ndata: a\r\ndata: b\r\n\r\n: c\n\ndata: x"), uint8(3), uint8(8))
	f.Add([]byte("data: [DONE]"), uint8(200), uint8(6))
	f.Add([]byte("data:"+strings.Repeat("y", 40)+"\n\n"), uint8(7), uint8(20))
	f.Fuzz(func(t *testing.T, in []byte, chunk, maxLine uint8) {
		limit := int(maxLine) + 1
		r := NewReaderSize(&chunkReader{data: in, n: int(chunk) + 1}, limit)
		got, err := readAll(r)
		want, wantErr := reference(in, limit)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("events = %v, want %v", got, want)
		}
		if !errors.Is(err, wantErr) {
			t.Fatalf("err = %v, want %v", err, wantErr)
		}
		total := 0
		for _, e := range got {
			total += len(e.data)
		}
		if total > len(in) {
			t.Fatalf("returned %d data bytes from %d input bytes", total, len(in))
		}
		if r.SawDone() != (len(got) > 0 && got[len(got)-1].done) {
			t.Fatalf("SawDone = %v with events %v", r.SawDone(), got)
		}
		if cap(r.buf) > limit+2+minRead && cap(r.buf) > initialBufSize {
			t.Fatalf("buffer grew to %d for a %d-byte limit", cap(r.buf), limit)
		}
	})
}

func BenchmarkReader(b *testing.B) {
	var stream bytes.Buffer
	const events = 200
	chunk := `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}`
	for range events {
		fmt.Fprintf(&stream, "data: %s\n\n", chunk)
	}
	stream.WriteString("data: [DONE]\n\n")
	in := stream.Bytes()
	src := bytes.NewReader(in)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		// One Reader per stream, as in the relay: its buffer is the only
		// allocation, however many events follow.
		src.Reset(in)
		r := NewReader(src)
		n := 0
		for {
			if _, err := r.Next(); err != nil {
				break
			}
			n++
		}
		if n != events+1 {
			b.Fatalf("read %d events", n)
		}
	}
}
