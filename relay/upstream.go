package relay

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"one-api/model"
	"one-api/relay/adaptor/anthropic"
)

// upstreamURL is where a request for path (e.g. "/v1/chat/completions")
// goes on ch. Azure addresses a deployment named after the model without
// dots (one-api's rule: gpt-3.5-turbo → gpt-35-turbo) and takes the
// api-version in the query; every other type is base URL + path with the
// type's prefix in place of "/v1" (relay/channeltype), the client's query
// kept.
func upstreamURL(ch *Channel, path, rawQuery, upstreamModel string) string {
	var b strings.Builder
	b.Grow(len(ch.BaseURL) + len(path) + len(rawQuery) + 64)
	b.WriteString(ch.BaseURL)
	if ch.Type == model.ChannelAzure && strings.HasPrefix(path, "/v1/responses") {
		// The Responses API lives only on Azure's v1 surface, which takes
		// the deployment in the body's model and no api-version.
		b.WriteString("/openai")
		b.WriteString(path)
		if rawQuery != "" {
			b.WriteByte('?')
			b.WriteString(rawQuery)
		}
		return b.String()
	}
	if ch.Type == model.ChannelAzure {
		b.WriteString("/openai/deployments/")
		b.WriteString(url.PathEscape(strings.ReplaceAll(upstreamModel, ".", "")))
		b.WriteByte('/')
		b.WriteString(strings.TrimPrefix(path, "/v1/"))
		b.WriteString("?api-version=")
		b.WriteString(url.QueryEscape(ch.Version))
		return b.String()
	}
	// The type's prefix replaces "/v1" (Doubao: /api/v3/chat/completions).
	if p, ok := strings.CutPrefix(path, "/v1"); ok && ch.pathPrefix != "/v1" {
		b.WriteString(ch.pathPrefix)
		path = p
	}
	b.WriteString(path)
	if rawQuery != "" {
		b.WriteByte('?')
		b.WriteString(rawQuery)
	}
	return b.String()
}

// newUpstreamRequest builds the request to ch. The body is a bytes.Reader,
// so the transport sends a Content-Length and can replay it (GetBody).
// accept is the client's Accept header ("" = none).
func newUpstreamRequest(ctx context.Context, ch *Channel, path, rawQuery, accept, upstreamModel string, body []byte, contentType string, stream bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, upstreamURL(ch, path, rawQuery, upstreamModel), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	h := req.Header
	if contentType == "" {
		contentType = "application/json"
	}
	h.Set("Content-Type", contentType)
	switch {
	case accept != "":
		h.Set("Accept", accept)
	case stream:
		h.Set("Accept", "text/event-stream")
	}
	setChannelAuth(h, ch)
	return req, nil
}

// setChannelAuth sends the channel's key the way its upstream expects it,
// and Anthropic's API version, which its every request must carry (a
// client's own is forwarded over it on /v1/messages).
func setChannelAuth(h http.Header, ch *Channel) {
	name, value := ch.authHeader.Header(ch.Key)
	h.Set(name, value)
	if ch.Type == model.ChannelAnthropic {
		h.Set("anthropic-version", anthropic.Version)
	}
}

// hopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1, plus those that
// must not reach the client from an upstream: its cookies, and the length
// and encoding of a body the gateway may re-frame.
var hopHeaders = map[string]bool{
	"Connection":          true,
	"Proxy-Connection":    true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
	"Content-Length":      true,
	"Set-Cookie":          true,
	"Alt-Svc":             true,
}

// copyResponseHeader copies an upstream response's end-to-end headers.
func copyResponseHeader(dst, src http.Header) {
	// Headers named in Connection are hop-by-hop too.
	var named []string
	for _, v := range src["Connection"] {
		for _, f := range strings.Split(v, ",") {
			named = append(named, http.CanonicalHeaderKey(strings.TrimSpace(f)))
		}
	}
	for k, vv := range src {
		if hopHeaders[k] || slices.Contains(named, k) {
			continue
		}
		// Shared, not copied: the upstream response is dropped after this,
		// and the capacity is clipped so an Add on dst allocates instead of
		// writing into it.
		dst[k] = vv[:len(vv):len(vv)]
	}
}

// failKind says what went wrong with an attempt, for the retry decision and
// the status the client gets.
type failKind int

const (
	failNone     failKind = iota
	failCanceled          // the client hung up: nothing to answer
	failTimeout           // 504
	failNetwork           // 502
	failStatus            // upstream answered an error status
)

// classifyTransportError sorts an error from Client.Do or a body read.
func classifyTransportError(ctx context.Context, err error) failKind {
	if errors.Is(ctx.Err(), context.Canceled) {
		return failCanceled
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return failTimeout
	}
	return failNetwork
}
