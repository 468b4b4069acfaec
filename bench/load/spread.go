package load

import (
	"net/http"
	"sync/atomic"
)

// RoundRobin is a transport that sends each request to the next of hosts
// ("127.0.0.1:8080") in turn, whatever host its URL names, as a load
// balancer in front of several gateway nodes would. It works for every mode
// (open loop, sweep, streams) since they all go through the client.
func RoundRobin(next http.RoundTripper, hosts ...string) http.RoundTripper {
	return &roundRobin{next: next, hosts: hosts}
}

type roundRobin struct {
	next  http.RoundTripper
	hosts []string
	n     atomic.Uint64
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	host := rr.hosts[(rr.n.Add(1)-1)%uint64(len(rr.hosts))]
	// A RoundTripper must not modify the request it was given.
	out := req.Clone(req.Context())
	out.URL.Host, out.Host = host, host
	return rr.next.RoundTrip(out)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (rr *roundRobin) CloseIdleConnections() {
	if c, ok := rr.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
