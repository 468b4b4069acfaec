package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"one-api/relay/openai"
)

// finish relays a complete (non-stream) upstream answer and bills it. The
// body is read whole before anything is written: usage is in it, and a read
// that fails can still be retried on another channel because the client has
// seen nothing. A body over UpstreamMaxBodyBytes, or a 2xx JSON endpoint
// answer that is not JSON (a proxy's HTML page), is an upstream failure:
// 502 or a retry, never charged.
func (j *job) finish(ctx context.Context, resp *http.Response, sent time.Time) (*apiError, bool) {
	defer resp.Body.Close()
	if j.p.mode == modeSpeech {
		j.copyAudio(resp, sent)
		return nil, false
	}
	buf := getBuffer()
	defer putBuffer(buf)
	if e, retry := j.readAnswer(ctx, resp, sent, buf); e != nil {
		return e, retry
	}
	body := buf.Bytes()
	if j.p.mode != modeTranscription && !looksLikeJSON(body) {
		return upstreamFailure("bad_response_body", "upstream returned a response that is not JSON",
			fmt.Errorf("channel #%d: status %d, Content-Type %q, not JSON", j.ch.ID, resp.StatusCode, resp.Header.Get("Content-Type"))), true
	}
	usage, ok := openai.ExtractUsage(body)
	switch {
	case j.p.mode == modeTranscription:
		// Billed as tokens of the transcript at the model's ratio (whisper's
		// completion ratio is 0 in one-api's table, so they count as prompt).
		usage = openai.Usage{PromptTokens: countText(j.p.req.Model, transcriptText(body))}
	case j.p.mode.namedEvents():
		usage = j.bodyUsage(body)
	case !ok || !plausible(usage):
		text := getText()
		*text = openai.AppendCompletionText(*text, body)
		usage = j.countUsage(*text)
		putText(text)
	}
	// Billed and logged before the answer goes out, so a client holding a
	// complete answer was charged even if the process dies next (issue 19).
	// A client that hung up meanwhile still pays: the upstream did the work.
	j.settle(usage)
	w := j.c.Writer
	copyResponseHeader(w.Header(), resp.Header)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	j.wroteHeader = true
	_, _ = w.Write(body)
	return nil, false
}

// readAnswer reads a complete upstream answer into buf, at most
// UpstreamMaxBodyBytes of it: a larger one is an upstream failure (502, no
// retry, never charged), so that one answer cannot hold the process's
// memory (issue 12).
func (j *job) readAnswer(ctx context.Context, resp *http.Response, sent time.Time, buf *bytes.Buffer) (*apiError, bool) {
	limit := j.r.cfg.UpstreamMaxBodyBytes
	if resp.ContentLength > limit {
		j.addUpstream(sent)
		return upstreamFailure("upstream_response_too_large", "upstream response too large",
			fmt.Errorf("channel #%d: Content-Length %d over the %d-byte limit", j.ch.ID, resp.ContentLength, limit)), false
	}
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	j.addUpstream(sent)
	if err != nil {
		return j.transportFailure(ctx, err, "read response")
	}
	if int64(buf.Len()) > limit {
		return upstreamFailure("upstream_response_too_large", "upstream response too large",
			fmt.Errorf("channel #%d: response over the %d-byte limit", j.ch.ID, limit)), false
	}
	return nil, false
}

// looksLikeJSON is a cheap check that body is a JSON object or array (the
// full parse is the client's): an HTML page or plain text is not.
func looksLikeJSON(body []byte) bool {
	body = bytes.TrimLeft(body, " \t\r\n")
	return len(body) > 0 && (body[0] == '{' || body[0] == '[')
}

// plausible reports whether reported usage can be billed. The parser reads
// a negative count as 0, so a report of nothing at all (a broken or hostile
// upstream, or one that fills in zeros) is counted locally instead, as
// one-api did when total_tokens was 0.
func plausible(u openai.Usage) bool {
	return u.PromptTokens > 0 || u.CompletionTokens > 0
}

// copyAudio streams generated speech through; its price was fixed before
// the call (characters of input).
func (j *job) copyAudio(resp *http.Response, sent time.Time) {
	w := j.c.Writer
	copyResponseHeader(w.Header(), resp.Header)
	if resp.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	j.wroteHeader = true
	buf := copyBufPool.Get().(*[]byte)
	_, _ = io.CopyBuffer(w, resp.Body, *buf)
	copyBufPool.Put(buf)
	j.addUpstream(sent)
	j.settle(openai.Usage{})
}

// transcriptText is the text of a transcription answer: the "text" field of
// the json and verbose_json formats, else the body itself (text, srt, vtt).
func transcriptText(body []byte) []byte {
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		var v struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(t, &v) == nil {
			return []byte(v.Text)
		}
	}
	return body
}

// Pools: response bodies and stream text are per request and short-lived;
// buffers that grew past maxPooled are dropped rather than pinned.
const maxPooled = 1 << 20

var (
	bufferPool  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	textPool    = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
	copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
)

func getBuffer() *bytes.Buffer { return bufferPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooled {
		return
	}
	b.Reset()
	bufferPool.Put(b)
}

func getText() *[]byte { return textPool.Get().(*[]byte) }

func putText(b *[]byte) {
	if cap(*b) > maxPooled {
		return
	}
	*b = (*b)[:0]
	textPool.Put(b)
}
