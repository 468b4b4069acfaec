package load

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestRoundRobinAlternates(t *testing.T) {
	a, servedA := countingServer(t, 200)
	b, servedB := countingServer(t, 200)
	hostOf := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return u.Host
	}
	client := NewClient(5 * time.Second)
	client.Transport = RoundRobin(client.Transport, hostOf(a.URL), hostOf(b.URL))
	defer client.CloseIdleConnections()

	tgt := target(a.URL + "/v1/chat/completions")
	const n = 10
	for range n {
		if code, _, errText := hit(context.Background(), client, tgt); code != http.StatusOK {
			t.Fatalf("hit = %d %s, want 200", code, errText)
		}
	}
	if g, w := servedA.Load(), int64(n/2); g != w {
		t.Errorf("first host served %d, want %d", g, w)
	}
	if g, w := servedB.Load(), int64(n/2); g != w {
		t.Errorf("second host served %d, want %d", g, w)
	}
	if g, w := tgt.URL, a.URL+"/v1/chat/completions"; g != w {
		t.Errorf("target URL changed to %q, want %q", g, w)
	}
}

// The open loop goes through vegeta's attacker, which must keep the
// client's transport.
func TestRoundRobinOpenLoop(t *testing.T) {
	a, servedA := countingServer(t, 200)
	b, servedB := countingServer(t, 200)
	ua, _ := url.Parse(a.URL)
	ub, _ := url.Parse(b.URL)
	client := NewClient(5 * time.Second)
	client.Transport = RoundRobin(client.Transport, ua.Host, ub.Host)
	res, err := OpenLoop(context.Background(), client, target(a.URL), 200, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("OpenLoop: %v", err)
	}
	if res.OK < 2 {
		t.Fatalf("ok = %d, want several", res.OK)
	}
	if ga, gb := servedA.Load(), servedB.Load(); ga+gb != res.Requests || ga-gb > 1 || gb-ga > 1 {
		t.Errorf("served %d and %d of %d, want an even split", ga, gb, res.Requests)
	}
}
