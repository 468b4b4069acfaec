package metrics

import (
	"context"
	"time"
)

// Sample is one finished HTTP request as the metrics middleware saw it.
type Sample struct {
	// Route is the route template ("/v1/chat/completions", gin's FullPath),
	// never the raw path: it becomes a Prometheus label, and a client must
	// not be able to mint new series by choosing URLs. "" means no route
	// matched (a 404).
	Route  string
	Method string
	Status int
	// Duration is the whole request, first byte in to last byte out; the
	// gateway overhead is Duration - Upstream.
	Duration time.Duration
	// Relay marks /v1 relay requests: only they count in the window stats.
	Relay bool
	// RequestInfo is what the relay learned (model, channel, tokens, quota,
	// upstream time, TTFT; 0 = no upstream call, not a stream or no token).
	// Its RelayError marks a relay-side failure whatever the status (for
	// example an upstream error mapped to a 4xx): it counts as failed.
	RequestInfo
}

// AddInfo copies what the relay learned about the request into s; a nil
// info (the handler never got that far) leaves s unchanged.
func (s *Sample) AddInfo(info *RequestInfo) {
	if info == nil {
		return
	}
	s.RequestInfo = *info
}

// RequestInfo is what the relay knows about a request and the HTTP
// middleware does not: the middleware puts an empty one in the request
// context, the relay handler fills it in, and the middleware reads it after
// the handler returns. Only the handler's goroutine writes it, and only
// before it returns, so no lock is needed.
type RequestInfo struct {
	Model     string
	ChannelID int
	Stream    bool
	// Upstream is the total time the upstream was in use: from sending the
	// request to the last byte read (for a stream, its end), summed over
	// retries. The gateway overhead is measured as the rest.
	Upstream         time.Duration
	TTFT             time.Duration
	PromptTokens     int
	CompletionTokens int
	Quota            int64
	RelayError       bool
	// Attempts counts the upstream attempts made so far (retries + 1);
	// ChannelID is the current attempt's channel. The upstream transport
	// reads both (attempt counters, trace spans).
	Attempts int
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying info.
func WithRequestInfo(ctx context.Context, info *RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// RequestInfoFrom returns the RequestInfo in ctx, or nil when there is none
// (metrics disabled, or a request that did not go through the middleware).
func RequestInfoFrom(ctx context.Context) *RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*RequestInfo)
	return info
}
