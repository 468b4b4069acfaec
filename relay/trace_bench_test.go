package relay_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"one-api/common"
	"one-api/tracing"
)

// BenchmarkRelayTracing is what tracing costs a relay request: off (the
// default), on with 1% of requests sampled (the recommended production
// setting) and on with every request sampled, exporting through the real
// OTLP/HTTP exporter to an in-process endpoint. Besides ns/op it reports
// cpu-ns/op, the process's user+system CPU per request (getrusage), which
// other processes on a shared machine disturb less than wall time.
func BenchmarkRelayTracing(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(sink.Close)
	for _, bc := range []struct {
		name    string
		sampler string
		ratio   float64
	}{
		{"off", "", 0},
		{"sampled=1%", "parentbased_traceidratio", 0.01},
		{"sampled=100%", "parentbased_always_on", 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := withMetrics(allOn)
			if bc.sampler != "" {
				tr, err := tracing.New(common.TracingConfig{Endpoint: sink.URL + "/v1/traces", Sampler: bc.sampler,
					SamplerArg: bc.ratio, ServiceName: "bench"}, "bench")
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = tr.Shutdown(b.Context()) })
				p.tracer = tr
			}
			s := benchStack(b, p)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				mustChat(b, s)
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRelayTracingInterleaved measures tracing at a 1% sample against
// tracing off under the same moment-to-moment load, as
// BenchmarkRelayMetricsInterleaved does for metrics: each op sends one
// request through each gateway, in random order.
func BenchmarkRelayTracingInterleaved(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(sink.Close)
	tr, err := tracing.New(common.TracingConfig{Endpoint: sink.URL + "/v1/traces", Sampler: "parentbased_traceidratio",
		SamplerArg: 0.01, ServiceName: "bench"}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tr.Shutdown(b.Context()) })
	on := withMetrics(allOn)
	on.tracer = tr
	spent := interleave(b, [2]*stack{benchStack(b, withMetrics(allOn)), benchStack(b, on)})
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), "off-ns/req")
	b.ReportMetric(float64(spent[1].Nanoseconds())/float64(b.N), "on1%-ns/req")
	b.ReportMetric(100*(float64(spent[1])/float64(spent[0])-1), "on-vs-off-%")
}
