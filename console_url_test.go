package main

import (
	"net"
	"testing"
)

// The address printed at start is one a person can open: an any-address
// listener is shown as localhost.
func TestConsoleURL(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 3000}, "http://localhost:3000/"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 3000}, "http://localhost:3000/"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://127.0.0.1:8080/"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 3000}, "http://[::1]:3000/"},
	} {
		if got := consoleURL(c.addr); got != c.want {
			t.Errorf("consoleURL(%s) = %q, want %q", c.addr, got, c.want)
		}
	}
}
