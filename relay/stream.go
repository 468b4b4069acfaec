package relay

import (
	"errors"
	"io"
	"net/http"
	"time"

	"one-api/common"
	"one-api/middleware"
	"one-api/relay/openai"
	"one-api/relay/sse"
)

// stream relays an event stream event by event, each flushed as it comes.
// The usage report that include_usage adds is kept for billing and passed
// on only if the client asked for it. An upstream cut ends the client's
// stream with an error event (never a [DONE] upstream did not send); the
// client hanging up cancels the upstream request through the request
// context. Either way what was delivered is billed.
func (j *job) stream(resp *http.Response, sent time.Time) {
	defer resp.Body.Close()
	c := j.c
	h := c.Writer.Header()
	copyResponseHeader(h, resp.Header)
	sse.SetHeaders(h)
	c.Writer.WriteHeader(http.StatusOK)
	j.wroteHeader = true
	w := sse.NewWriter(c.Writer)

	text := getText()
	defer putText(text)
	var (
		usage     openai.Usage
		haveUsage bool
		delivered bool
		readErr   error
		writeErr  error
	)
	rd := sse.NewReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if ev.Done {
			writeErr = w.Done()
			break
		}
		if u, ok := openai.ExtractUsage(ev.Data); ok {
			usage, haveUsage = u, true
			if !j.p.req.IncludeUsage && openai.IsUsageOnlyChunk(ev.Data) {
				continue
			}
		}
		if writeErr = w.Data(ev.Data); writeErr != nil {
			break
		}
		if !delivered && j.info != nil {
			j.info.TTFT = time.Since(j.start)
		}
		delivered = true
		*text = openai.AppendCompletionText(*text, ev.Data)
	}
	j.addUpstream(sent)

	clientGone := writeErr != nil || c.Request.Context().Err() != nil
	if readErr != nil && !clientGone {
		if j.info != nil {
			j.info.RelayError = true
		}
		common.Warn("channel #%d: stream cut: %v (request id: %s)", j.ch.ID, readErr, h.Get(middleware.RequestIDHeader))
		_ = w.Error(openai.Error{
			Message: middleware.WithRequestID(c, "upstream stream was interrupted"),
			Type:    openai.TypeUpstream, Code: "stream_interrupted",
		})
	}
	if !haveUsage && !delivered && (readErr != nil || clientGone) {
		// Nothing reached the client: a failed request, not charged.
		j.release()
		return
	}
	if !haveUsage {
		usage = j.countUsage(*text)
	}
	j.settle(usage)
}
