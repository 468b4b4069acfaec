package relay

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"one-api/internal/testdb"
	"one-api/model"
)

func prio(ch *model.Channel, p int64, weight uint) *model.Channel {
	ch.Priority, ch.Weight = &p, &weight
	return ch
}

func TestPickPriorityAndWeight(t *testing.T) { testdb.Run(t, testPickPriorityAndWeight) }

func testPickPriorityAndWeight(t *testing.T, dialect string) {
	up := newFake(t, answerJSON(1, 1))
	e := newEnv(t, envConfig{dialect: dialect, channels: []*model.Channel{
		prio(channel(model.ChannelOpenAI, "a", up.URL, "m"), 10, 1),
		prio(channel(model.ChannelOpenAI, "b", up.URL, "m"), 10, 3),
		prio(channel(model.ChannelOpenAI, "c", up.URL, "m"), 5, 0),
		prio(channel(model.ChannelOpenAI, "d", up.URL, "m"), 0, 100),
	}})
	tab := e.relay.Table()
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 20000
	counts := map[int]int{}
	for range n {
		counts[tab.pick("default", "m", nil, rng.IntN).ID]++
	}
	// Only the top priority (a:1, b:3) is chosen, by weight. The seed is
	// fixed, so the bounds are not flaky: they hold for this sequence.
	if counts[3]+counts[4] != 0 {
		t.Errorf("lower priorities chosen: %v", counts)
	}
	if share := float64(counts[2]) / n; share < 0.73 || share > 0.77 {
		t.Errorf("weight-3 channel share = %.3f, want about 0.75 (%v)", share, counts)
	}
	// Retries: the untried channel of the same priority, then the next
	// priority, then the last, then anything again.
	for _, tc := range []struct {
		tried []int
		want  []int
	}{
		{[]int{1}, []int{2}},
		{[]int{2}, []int{1}},
		{[]int{1, 2}, []int{3}},
		{[]int{1, 2, 3}, []int{4}},
		{[]int{1, 2, 3, 4}, []int{1, 2}},
	} {
		got := tab.pick("default", "m", tc.tried, rng.IntN).ID
		if !slices.Contains(tc.want, got) {
			t.Errorf("pick after %v = %d, want one of %v", tc.tried, got, tc.want)
		}
	}
	if ch := tab.pick("default", "nope", nil, rng.IntN); ch != nil {
		t.Errorf("pick for an unserved model = #%d", ch.ID)
	}
	// No channel lists it: OpenAI's 404 (docs/compatibility.md).
	if w := e.do("POST", "/v1/chat/completions", `{"model":"nope","messages":[]}`); w.Code != http.StatusNotFound ||
		!strings.Contains(w.Body.String(), `"code":"model_not_found"`) {
		t.Errorf("unserved model: %d %s, want 404 model_not_found", w.Code, w.Body)
	}
}

// TestRetry: the first channel (higher priority) fails in a retryable way;
// the request is answered by the second, and billed once, to it.
func TestRetry(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request, _ []byte) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	for _, tc := range []struct {
		name    string
		first   func(http.ResponseWriter, *http.Request, []byte)
		retries string
		status  int // with RetryTimes as given
	}{
		{"500", answerStatus(500, "server_error"), "1", 200},
		{"429", answerStatus(429, "rate_limit_exceeded"), "1", 200},
		{"timeout", hang, "1", 200},
		{"500 without retries", answerStatus(500, "server_error"), "0", 500},
		{"timeout without retries", hang, "0", http.StatusGatewayTimeout},
		{"400 is not retried", answerStatus(400, "bad_request"), "3", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := newFake(t, tc.first)
			second := newFake(t, answerJSON(10, 20))
			client := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 500 * time.Millisecond}}
			e := newEnv(t, envConfig{
				channels: []*model.Channel{
					prio(channel(model.ChannelOpenAI, "first", first.URL, "gpt-3.5-turbo"), 10, 0),
					prio(channel(model.ChannelOpenAI, "second", second.URL, "gpt-3.5-turbo"), 0, 0),
				},
				options: map[string]string{"RetryTimes": tc.retries},
				client:  client,
			})
			w := e.do("POST", "/v1/chat/completions", `{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"hi"}]}`)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.status, w.Body)
			}
			if first.hits.Load() != 1 {
				t.Errorf("first channel hit %d times", first.hits.Load())
			}
			logs := e.logs()
			if tc.status != 200 {
				if second.hits.Load() != 0 || len(logs) != 0 {
					t.Errorf("second hit %d times, %d logs; want no retry and no charge", second.hits.Load(), len(logs))
				}
				if !strings.Contains(w.Body.String(), "(request id: req-") {
					t.Errorf("error %s does not quote the request id", w.Body)
				}
				if b := e.balances(0); b.UserQuota != 1e9 || b.TokenRemain != 1e9 || b.UserUsed != 0 {
					t.Errorf("balances = %+v: the reservation was not returned", b)
				}
				return
			}
			if second.hits.Load() != 1 || len(logs) != 1 || logs[0].ChannelID != 2 || logs[0].Quota != 18 {
				t.Errorf("second hit %d times, logs %+v; want one charge of 18 to channel 2", second.hits.Load(), logs)
			}
			if b := e.balances(2); b.UserUsed != 18 || b.UserQuota != 1e9-18 || b.ChannelUsed != 18 || b.Requests != 1 {
				t.Errorf("balances = %+v", b)
			}
		})
	}
}

func TestAutoDisable(t *testing.T) { testdb.Run(t, testAutoDisable) }

func testAutoDisable(t *testing.T, dialect string) {
	for _, tc := range []struct {
		name    string
		answer  func(http.ResponseWriter, *http.Request, []byte)
		enabled bool
		disable bool
	}{
		{"401", answerStatus(401, "whatever"), true, true},
		{"insufficient_quota", answerStatus(429, "insufficient_quota"), true, true},
		{"invalid_api_key on 403", answerStatus(403, "invalid_api_key"), true, true},
		{"plain 500", answerStatus(500, "server_error"), true, false},
		{"401 with auto-disable off", answerStatus(401, "invalid_api_key"), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := newFake(t, tc.answer)
			good := newFake(t, answerJSON(1, 1))
			e := newEnv(t, envConfig{dialect: dialect,
				channels: []*model.Channel{
					prio(channel(model.ChannelOpenAI, "bad", bad.URL, "gpt-3.5-turbo"), 10, 0),
					prio(channel(model.ChannelOpenAI, "good", good.URL, "gpt-3.5-turbo"), 0, 0),
				},
				options: map[string]string{"AutomaticDisableChannelEnabled": fmt.Sprint(tc.enabled), "RetryTimes": "0"},
			})
			const body = `{"model":"gpt-3.5-turbo","messages":[]}`
			e.do("POST", "/v1/chat/completions", body)
			for range 5 {
				e.do("POST", "/v1/chat/completions", body)
			}
			status := e.channelStatus(1)
			if tc.disable {
				if status != model.ChannelAutoDisabled || bad.hits.Load() != 1 || good.hits.Load() != 5 {
					t.Errorf("status %d, bad hit %d, good hit %d; want 3, 1, 5", status, bad.hits.Load(), good.hits.Load())
				}
				var enabled int64
				e.store.Gorm().Model(&model.Ability{}).Where("channel_id = ? AND enabled = ?", 1, true).Count(&enabled)
				if enabled != 0 {
					t.Errorf("%d abilities of the disabled channel still enabled", enabled)
				}
				return
			}
			if status != model.ChannelEnabled || bad.hits.Load() != 6 {
				t.Errorf("status %d, bad hit %d; want 1, 6", status, bad.hits.Load())
			}
		})
	}
}

// TestAutoDisableRetries: a channel found dead is left for another one in
// the same request when retries are allowed.
func TestAutoDisableRetries(t *testing.T) {
	bad := newFake(t, answerStatus(401, "invalid_api_key"))
	good := newFake(t, answerJSON(1, 1))
	e := newEnv(t, envConfig{
		channels: []*model.Channel{
			prio(channel(model.ChannelOpenAI, "bad", bad.URL, "gpt-3.5-turbo"), 10, 0),
			prio(channel(model.ChannelOpenAI, "good", good.URL, "gpt-3.5-turbo"), 0, 0),
		},
		options: map[string]string{"AutomaticDisableChannelEnabled": "true", "RetryTimes": "1"},
	})
	if w := e.do("POST", "/v1/chat/completions", `{"model":"gpt-3.5-turbo","messages":[]}`); w.Code != 200 {
		t.Errorf("status = %d, %s", w.Code, w.Body)
	}
	if e.channelStatus(1) != model.ChannelAutoDisabled {
		t.Errorf("channel 1 status = %d, want 3", e.channelStatus(1))
	}
}

// notifySink signals every recorded log.
type notifySink struct {
	model.LogSink
	done chan *model.Log
}

func (s *notifySink) Record(ctx context.Context, l *model.Log) error {
	err := s.LogSink.Record(ctx, l)
	s.done <- l
	return err
}

// TestClientDisconnect: the client hangs up mid-stream; the upstream sees
// its request canceled, and the delivered part is billed.
func TestClientDisconnect(t *testing.T) { testdb.Run(t, testClientDisconnect) }

func testClientDisconnect(t *testing.T, dialect string) {
	canceled := make(chan struct{})
	up := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\n\n", chunk("Hello"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(canceled)
	})
	var sink *notifySink
	e := newEnv(t, envConfig{dialect: dialect, channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo")},
		logs: model.DiscardLogSink{}})
	sink = &notifySink{LogSink: model.NewDirectLogSink(e.store.LogGorm()), done: make(chan *model.Log, 1)}
	e.relay.cfg.Logs = sink
	srv := newServer(t, e)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-3.5-turbo","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+e.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, "Hello") {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("upstream request not canceled after the client left")
	}
	select {
	case l := <-sink.done:
		if l.CompletionTokens != 1 || l.Quota <= 0 {
			t.Errorf("log = %+v, want the delivered token billed", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no consume log after the client left")
	}
}

// TestExhausted: a request the balance cannot cover is refused with 403
// and never reaches upstream.
func TestExhausted(t *testing.T) { testdb.Run(t, testExhausted) }

func testExhausted(t *testing.T, dialect string) {
	for _, tc := range []struct {
		name        string
		user, token int64
		unlimited   bool
		wantMsg     string
	}{
		// gpt-4: ratio 15, so the reservation is (500 + prompt) × 15 > 7500.
		{"token remain 0", 1e9, -1, false, "quota is exhausted"},
		{"token short", 1e9, 7000, false, "token quota is not enough"},
		{"user short", 7000, 1e9, false, "user quota is not enough"},
		{"unlimited token, user short", 7000, 0, true, "user quota is not enough"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFake(t, answerJSON(1, 1))
			token := tc.token
			if token < 0 {
				token = 0
			}
			e := newEnv(t, envConfig{dialect: dialect, channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-4")},
				userQuota: tc.user, tokenQuota: token, unlimited: tc.unlimited})
			if tc.token < 0 {
				e.store.Gorm().Model(&model.Token{}).Where("id = ?", e.tokenID).Update("remain_quota", 0)
			}
			w := e.do("POST", "/v1/chat/completions", `{"model":"gpt-4","messages":[{"role":"user","content":"hi"}]}`)
			if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), tc.wantMsg) {
				t.Errorf("answer %d %s, want 403 %q", w.Code, w.Body, tc.wantMsg)
			}
			if up.hits.Load() != 0 {
				t.Errorf("upstream called %d times", up.hits.Load())
			}
		})
	}
}
