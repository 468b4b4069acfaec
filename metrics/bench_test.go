package metrics

import (
	"testing"
	"time"
)

// benchSample is a typical finished stream.
func benchSample() *Sample {
	return &Sample{
		Route:       "/v1/chat/completions",
		Method:      "POST",
		Status:      200,
		Relay:       true,
		Duration:    420 * time.Millisecond,
		RequestInfo: RequestInfo{Stream: true, Upstream: 415 * time.Millisecond, TTFT: 120 * time.Millisecond, Model: "gpt-4o-mini", ChannelID: 3, PromptTokens: 12, CompletionTokens: 85, Quota: 97},
	}
}

func BenchmarkRecord(b *testing.B) {
	prom, err := NewPrometheus(nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	targets := []struct {
		name   string
		record func(*Sample)
	}{
		{"window", NewCollector().Record},
		{"prometheus", prom.Record},
		{"both", (&Metrics{Window: NewCollector(), Prom: prom}).Record},
		{"disabled", (*Metrics)(nil).Record},
	}
	for _, tt := range targets {
		b.Run(tt.name, func(b *testing.B) {
			s := benchSample()
			b.ReportAllocs()
			for b.Loop() {
				tt.record(s)
			}
		})
		b.Run(tt.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				s := benchSample()
				for pb.Next() {
					tt.record(s)
				}
			})
		})
	}
}

func BenchmarkSnapshot(b *testing.B) {
	c := NewCollector()
	for i := range 100000 {
		c.Record(&Sample{Relay: true, Status: 200, Duration: time.Duration(i) * time.Microsecond})
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Snapshot()
	}
}
