package relay

import (
	"bytes"
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
// seen nothing.
func (j *job) finish(resp *http.Response, sent time.Time) (*apiError, bool) {
	defer resp.Body.Close()
	if j.p.mode == modeSpeech {
		j.copyAudio(resp, sent)
		return nil, false
	}
	buf := getBuffer()
	defer putBuffer(buf)
	_, err := buf.ReadFrom(resp.Body)
	j.addUpstream(sent)
	if err != nil {
		kind := classifyTransportError(j.c.Request.Context(), err)
		if kind == failCanceled {
			return transportError(failNetwork, err), false
		}
		return transportError(kind, fmt.Errorf("channel #%d: read response: %w", j.ch.ID, err)), true
	}
	body := buf.Bytes()
	w := j.c.Writer
	copyResponseHeader(w.Header(), resp.Header)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	j.wroteHeader = true
	// A client that hung up after the answer was complete still pays: the
	// upstream did the work.
	_, _ = w.Write(body)

	usage, ok := openai.ExtractUsage(body)
	switch {
	case j.p.mode == modeTranscription:
		// Billed as tokens of the transcript at the model's ratio (whisper's
		// completion ratio is 0 in one-api's table, so they count as prompt).
		usage = openai.Usage{PromptTokens: countText(j.p.req.Model, transcriptText(body))}
	case j.p.mode.namedEvents():
		usage = j.bodyUsage(body)
	case !ok:
		text := getText()
		*text = openai.AppendCompletionText(*text, body)
		usage = j.countUsage(*text)
		putText(text)
	}
	j.settle(usage)
	return nil, false
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
