// Package adaptortest holds what the adaptors' tests share: one fuzz
// target for stream converters, whose contract is the same whatever the
// protocol (never panic, emit only well-formed events).
package adaptortest

import (
	"bytes"
	"testing"

	"one-api/relay/adaptor"
	"one-api/relay/sse"
)

// FuzzStream feeds arbitrary SSE bytes (seeded with seeds) to a fresh
// converter from newConv, event by event and then End, as the relay does;
// every payload it emits other than adaptor.Done must pass valid.
func FuzzStream(f *testing.F, seeds [][]byte, newConv func() adaptor.Stream, valid func([]byte) bool) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		conv := newConv()
		emit := func(p []byte) error {
			if !bytes.Equal(p, adaptor.Done) && !valid(p) {
				t.Fatalf("emitted %q", p)
			}
			return nil
		}
		rd := sse.NewReaderSize(bytes.NewReader(in), 1<<16)
		for {
			ev, err := rd.Next()
			if err != nil {
				_ = conv.End(emit)
				return
			}
			if ev.Done {
				continue
			}
			if conv.Event(ev.Name, ev.Data, emit) != nil {
				return
			}
		}
	})
}
