package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"one-api/relay/openai"
)

// mode is the kind of OpenAI endpoint a request is for.
type mode int

const (
	modeNone mode = iota // no body to read (GET /v1/models)
	modeChat
	modeCompletions
	modeEmbeddings
	modeModerations
	modeImages
	modeSpeech
	modeTranscription // transcriptions and translations: multipart
	modeResponses     // OpenAI's Responses API: typed stream events
	modeMessages      // Anthropic's Messages API: named stream events
	modeCountTokens   // Anthropic's count_tokens: not billed, not retried
)

// modeOf maps a route path to its mode.
func modeOf(path string) mode {
	switch path {
	case "/v1/chat/completions":
		return modeChat
	case "/v1/completions":
		return modeCompletions
	case "/v1/embeddings":
		return modeEmbeddings
	case "/v1/moderations":
		return modeModerations
	case "/v1/images/generations":
		return modeImages
	case "/v1/audio/speech":
		return modeSpeech
	case "/v1/audio/transcriptions", "/v1/audio/translations":
		return modeTranscription
	case "/v1/responses":
		return modeResponses
	case "/v1/messages":
		return modeMessages
	case "/v1/messages/count_tokens":
		return modeCountTokens
	}
	return modeNone
}

// defaultModel is what one-api assumed when these endpoints got no model.
func (m mode) defaultModel() string {
	switch m {
	case modeModerations:
		return "text-moderation-stable"
	case modeImages:
		return "dall-e-2"
	case modeTranscription:
		return "whisper-1"
	}
	return ""
}

// parsed is a request body read once, with what the gateway needs from it.
type parsed struct {
	mode mode
	body []byte
	// contentType is the client's, forwarded as is (multipart boundary).
	contentType string
	req         openai.Request
	// prevResponse is a Responses request's previous_response_id.
	prevResponse string
}

type parsedKey struct{}

// RequestModel reads and parses the body once, keeps it for the handler, and
// returns the requested model ("" for routes without a body). It is the
// Model hook of the token auth middleware.
func (r *Relay) RequestModel(c *gin.Context) (string, error) {
	p, err := r.parse(c)
	if err != nil || p == nil {
		return "", err
	}
	return p.req.Model, nil
}

// parse returns the cached parse of the request, reading it on first use.
func (r *Relay) parse(c *gin.Context) (*parsed, error) {
	if v, ok := c.Get(parsedKey{}); ok {
		return v.(*parsed), nil
	}
	m := modeOf(c.FullPath())
	if m == modeNone {
		return nil, nil
	}
	body, err := readBody(c, r.cfg.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	p := &parsed{mode: m, body: body, contentType: c.GetHeader("Content-Type")}
	if m == modeTranscription {
		p.req = openai.Request{Body: body}
		p.req.Model, err = multipartModel(body, p.contentType)
		if err != nil {
			return nil, err
		}
	} else {
		p.req, err = openai.ParseRequest(body)
		if errors.Is(err, openai.ErrMissingModel) && m.defaultModel() != "" {
			p.req.Model, err = m.defaultModel(), nil
		}
		if err != nil {
			return nil, err
		}
		if m == modeResponses {
			if err := p.parseResponses(); err != nil {
				return nil, err
			}
		}
	}
	if p.req.Model == "" {
		p.req.Model = m.defaultModel()
	}
	c.Set(parsedKey{}, p)
	return p, nil
}

// readBody reads the whole request body, refusing more than limit bytes
// (the error is then an *http.MaxBytesError).
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	if c.Request.Body == nil {
		return nil, nil
	}
	rd := http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	size := 512
	if n := c.Request.ContentLength; n > 0 && n <= limit {
		// A claimed length is trusted only up to 1 MiB: sending a header
		// must not be enough to make us allocate 32 MiB. One byte more than
		// claimed, so the EOF is seen without growing the buffer (a
		// bytes.Buffer wanted 512 bytes of spare room, tripling a small
		// body's allocation).
		size = int(min(n, 1<<20)) + 1
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
	}
}

// multipartModel finds the "model" field of a multipart form without
// touching the file parts' contents beyond skipping them.
func multipartModel(body []byte, contentType string) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return "", errors.New("request must be multipart/form-data")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("read multipart form: %w", err)
		}
		if part.FormName() != "model" {
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, 256))
		if err != nil {
			return "", fmt.Errorf("read multipart form: %w", err)
		}
		return strings.TrimSpace(string(v)), nil
	}
}

// rewriteMultipartModel re-encodes a multipart form with its "model" field
// set to name, keeping the boundary, every other part and its headers.
func rewriteMultipartModel(body []byte, contentType, name string) ([]byte, error) {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("rewrite multipart form: %w", err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out bytes.Buffer
	out.Grow(len(body) + len(name))
	mw := multipart.NewWriter(&out)
	if err := mw.SetBoundary(params["boundary"]); err != nil {
		return nil, fmt.Errorf("rewrite multipart form: %w", err)
	}
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("rewrite multipart form: %w", err)
		}
		w, err := mw.CreatePart(part.Header)
		if err != nil {
			return nil, fmt.Errorf("rewrite multipart form: %w", err)
		}
		if part.FormName() == "model" {
			_, err = io.WriteString(w, name)
		} else {
			_, err = io.Copy(w, part)
		}
		if err != nil {
			return nil, fmt.Errorf("rewrite multipart form: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("rewrite multipart form: %w", err)
	}
	return out.Bytes(), nil
}
