package cluster

import (
	"context"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"one-api/common"
	"one-api/ledger"
	"one-api/model"
)

const redisURLVar = "TEST_REDIS_URL" // redis://127.0.0.1:6379/0

// testURL is TEST_REDIS_URL with a key prefix and client name of the test's
// own, so parallel tests neither see each other's messages nor flush each
// other's keys (or the test skips when the variable is unset).
func testURL(t *testing.T) (string, string) {
	t.Helper()
	base := os.Getenv(redisURLVar)
	if base == "" {
		t.Skip(redisURLVar + " not set")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", redisURLVar, err)
	}
	name := "oneapi_t_" + strings.ToLower(common.RandomString(10))
	q := u.Query()
	q.Set("key_prefix", name+":")
	q.Set("client_name", name)
	u.RawQuery = q.Encode()
	return u.String(), name
}

// recorder is a node's local side: it records what messages changed.
type recorder struct {
	mu       sync.Mutex
	tokens   []string
	users    []int
	forgets  []int
	channels int
	options  int
	all      int
	changed  chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 100)} }

func (r *recorder) note(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *recorder) TokenChanged(key string) { r.note(func() { r.tokens = append(r.tokens, key) }) }
func (r *recorder) UserChanged(id int)      { r.note(func() { r.users = append(r.users, id) }) }
func (r *recorder) Forget(id int)           { r.note(func() { r.forgets = append(r.forgets, id) }) }
func (r *recorder) InvalidateAll()          { r.note(func() { r.all++ }) }

func (r *recorder) local() Local {
	return Local{
		Tokens: r, Ledger: r,
		Channels: func(context.Context) error { r.note(func() { r.channels++ }); return nil },
		Options:  func(context.Context) error { r.note(func() { r.options++ }); return nil },
	}
}

// waitFor waits until cond holds; the bus is asynchronous, so the deadline
// is generous and only ends a test that is failing anyway.
func (r *recorder) waitFor(t *testing.T, what string, cond func(*recorder) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		ok := cond(r)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("never saw %s", what)
		}
	}
}

func startNode(t *testing.T, url string, r *recorder) (*Node, model.Invalidator) {
	t.Helper()
	n, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := n.Start(context.Background(), r.local())
	if err != nil {
		n.Close(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return n, inv
}

func TestBusCarriesEveryKindToTheOtherNode(t *testing.T) {
	url, _ := testURL(t)
	ra, rb := newRecorder(), newRecorder()
	a, invA := startNode(t, url, ra)
	startNode(t, url, rb)
	ctx := context.Background()

	invA.TokenChanged("key-1")
	invA.UserChanged(7)
	if err := a.ChannelsChanged(func(context.Context) error { return nil })(ctx); err != nil {
		t.Fatal(err)
	}
	a.PublishChannels(ctx)
	a.PublishOption("RetryTimes")

	rb.waitFor(t, "every change on node B", func(r *recorder) bool {
		return len(r.tokens) == 1 && len(r.users) == 1 && len(r.forgets) == 1 && r.channels == 2 && r.options == 1
	})
	if rb.tokens[0] != "key-1" || rb.users[0] != 7 || rb.forgets[0] != 7 {
		t.Errorf("node B saw tokens %v users %v forgets %v", rb.tokens, rb.users, rb.forgets)
	}
	// Node A applied its own changes directly, once, and ignores its echo.
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if len(ra.tokens) != 1 || len(ra.users) != 1 || ra.channels != 0 || ra.options != 0 {
		t.Errorf("node A: tokens %v users %v channels %d options %d, want its own token and user change only",
			ra.tokens, ra.users, ra.channels, ra.options)
	}
}

// A broken subscription may have missed messages: once it is back, the node
// drops every cached token and reloads channels and options.
func TestBusResyncsAfterReconnect(t *testing.T) {
	url, name := testURL(t)
	r := newRecorder()
	n, _ := startNode(t, url, r)
	restore := common.SetLogOutput(&strings.Builder{})
	defer restore()

	opt, err := redis.ParseURL(os.Getenv(redisURLVar))
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(opt)
	defer admin.Close()
	ctx := context.Background()
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name="+name+" ") && strings.Contains(line, "cmd=subscribe") {
			id := strings.TrimPrefix(strings.Fields(line)[0], "id=")
			if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("found %d subscription connections named %s, want 1:\n%s", killed, name, list)
	}
	r.waitFor(t, "a full resync", func(r *recorder) bool { return r.all == 1 && r.channels == 1 && r.options == 1 })
	if got := n.Stats().Resyncs; got != 1 {
		t.Errorf("resyncs = %d, want 1", got)
	}
}

func TestNilNodeHandsBackWhatItGot(t *testing.T) {
	var n *Node
	r := newRecorder()
	inv, err := n.Start(context.Background(), r.local())
	if err != nil || inv != model.Invalidator(r) {
		t.Errorf("Start on nil = %v, %v; want the local invalidator", inv, err)
	}
	l := ledger.NewDirect(nil)
	if got, admin, err := n.Ledger(context.Background(), l, l); err != nil || got != model.QuotaLedger(l) || admin != model.QuotaAdmin(l) {
		t.Errorf("Ledger on nil = %v, %v, %v", got, admin, err)
	}
	if s := n.Status(context.Background()); s != "off" {
		t.Errorf("Status on nil = %q, want off", s)
	}
	n.PublishChannels(context.Background())
	n.PublishOption("x")
	if err := n.Close(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestSetupWithoutRedisIsNil(t *testing.T) {
	n, err := Setup(context.Background(), &common.Config{})
	if n != nil || err != nil {
		t.Errorf("Setup without REDIS_CONN_STRING = %v, %v; want nil, nil", n, err)
	}
}

func TestOpenRefusesAnUnreachableRedis(t *testing.T) {
	if _, err := Open(context.Background(), "redis://127.0.0.1:1/0?dial_timeout=200ms"); err == nil {
		t.Error("Open of a closed port succeeded")
	}
}

func TestSplitPrefix(t *testing.T) {
	tests := []struct{ in, conn, prefix string }{
		{"redis://h:6379/0", "redis://h:6379/0", DefaultPrefix},
		{"redis://h:6379/2?key_prefix=a:&dial_timeout=1s", "redis://h:6379/2?dial_timeout=1s", "a:"},
		{"redis://h/0?key_prefix=", "redis://h/0", ""},
	}
	for _, tt := range tests {
		conn, prefix, err := splitPrefix(tt.in)
		if err != nil || conn != tt.conn || prefix != tt.prefix {
			t.Errorf("splitPrefix(%q) = %q, %q, %v; want %q, %q", tt.in, conn, prefix, err, tt.conn, tt.prefix)
		}
	}
}
