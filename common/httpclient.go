package common

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// NewTransport builds the one upstream transport every relay and channel
// test request goes through, so that connections to an upstream are pooled
// and reused across requests (docs/http-transport.md).
//
// ResponseHeaderTimeout bounds the wait for the upstream's headers only: once
// they arrive, the body (an SSE stream) may flow for as long as it likes.
func NewTransport(cfg HTTPConfig) (*http.Transport, error) {
	proxy, err := proxyFunc(cfg.Proxy)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: cfg.KeepAlive}
	return &http.Transport{
		Proxy:                 proxy,
		DialContext:           dialer.DialContext,
		MaxIdleConns:          cfg.MaxIdleConns,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		MaxConnsPerHost:       cfg.MaxConnsPerHost,
		TLSHandshakeTimeout:   cfg.TLSTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		ExpectContinueTimeout: time.Second,
		// A custom DialContext turns net/http's automatic HTTP/2 off; ask
		// for it back so upstreams that offer h2 multiplex on one connection.
		ForceAttemptHTTP2: true,
	}, nil
}

// NewHTTPClient wraps NewTransport. RELAY_TIMEOUT becomes the client's
// whole-request deadline, as in one-api: it includes reading the body, so it
// also ends a stream that is still flowing. 0 means no deadline.
func NewHTTPClient(cfg HTTPConfig) (*http.Client, error) {
	t, err := NewTransport(cfg)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: t, Timeout: cfg.RelayTimeout}, nil
}

// proxyFunc is RELAY_PROXY when set, else the standard HTTP(S)_PROXY /
// NO_PROXY environment variables.
func proxyFunc(raw string) (func(*http.Request) (*url.URL, error), error) {
	if raw == "" {
		return http.ProxyFromEnvironment, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the whole value, credentials included.
		return nil, errors.New("RELAY_PROXY: not a URL")
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, fmt.Errorf("RELAY_PROXY: scheme %q not supported (want http, https, socks5 or socks5h)", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("RELAY_PROXY %q: no host", redactProxy(raw))
	}
	return http.ProxyURL(u), nil
}

// LogTransport writes the one start-up line with the effective transport
// settings.
func LogTransport(cfg HTTPConfig) { SysLog("%s", describeTransport(cfg)) }

func describeTransport(cfg HTTPConfig) string {
	proxy := "none"
	switch {
	case cfg.Proxy != "":
		proxy = redactProxy(cfg.Proxy)
	case envProxySet():
		proxy = "environment"
	}
	relay := "none"
	if cfg.RelayTimeout > 0 {
		relay = cfg.RelayTimeout.String()
	}
	return fmt.Sprintf("HTTP transport: keepalive=%s max_idle=%d max_idle_per_host=%d max_conns_per_host=%d "+
		"dial_timeout=%s tls_timeout=%s response_header_timeout=%s idle_conn_timeout=%s http2=true proxy=%s relay_timeout=%s",
		cfg.KeepAlive, cfg.MaxIdleConns, cfg.MaxIdleConnsPerHost, cfg.MaxConnsPerHost,
		cfg.DialTimeout, cfg.TLSTimeout, cfg.ResponseHeaderTimeout, cfg.IdleConnTimeout, proxy, relay)
}

// redactProxy drops the userinfo: proxy credentials never reach the journal.
func redactProxy(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	u.User = nil
	return u.String()
}

func envProxySet() bool {
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		if os.Getenv(k) != "" {
			return true
		}
	}
	return false
}
