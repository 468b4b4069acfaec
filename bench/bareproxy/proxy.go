// Package bareproxy is the benchmark's floor: a plain httputil.ReverseProxy
// with pooled copy buffers and the gateway's default upstream transport. No Go
// gateway can add less than this, so arm C is judged against it.
package bareproxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// Transport mirrors the gateway's default upstream transport
// (patchset.md, "Shared upstream HTTP transport").
func Transport() *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 90 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   20,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 300 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// New proxies every request to target.
func New(target *url.URL, transport http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport: transport,
		// -1 flushes after every write, so SSE chunks are not held back.
		FlushInterval: -1,
		BufferPool:    newBufferPool(),
	}
}

// bufferPool hands out 32 KiB copy buffers, the size io.Copy would allocate
// per response otherwise.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	bp := &bufferPool{}
	bp.p.New = func() any {
		b := make([]byte, 32<<10)
		return &b
	}
	return bp
}

func (bp *bufferPool) Get() []byte { return *(bp.p.Get().(*[]byte)) }

func (bp *bufferPool) Put(b []byte) {
	if cap(b) >= 32<<10 {
		b = b[:32<<10]
		bp.p.Put(&b)
	}
}
