package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"one-api/model"
)

// Two gateway nodes on one Redis hold one token's requests-per-minute limit
// together: requests spread over both get exactly the limit through, the
// rest 429 with Retry-After, and only the answered ones are charged and
// logged.
func TestClusterTokenRPMLimit(t *testing.T) {
	e := newClusterEnv(t)
	up, hits := countingUpstream(t)
	e.addChannel(t, up.URL)
	tok, tokID := e.addToken(t, 1, 0, true)
	const limit = 6
	if err := e.store.Gorm().Model(&model.Token{}).Where("id = ?", tokID).Update("rpm_limit", limit).Error; err != nil {
		t.Fatal(err)
	}
	a, b := e.startNodes(t, nil)
	running := true
	defer func() {
		if running {
			a.stop(t)
			b.stop(t)
		}
	}()

	// All requests in one minute: a window boundary would let the
	// previous minute's count decay.
	if s := time.Now().Second(); s > 50 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	var ok, limited int
	for i := range 3 * limit {
		base := a.base
		if i%2 == 1 {
			base = b.base
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer sk-"+tok.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		default:
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	if ok != limit || limited != 2*limit {
		t.Errorf("over two nodes: %d answered, %d limited; want %d and %d", ok, limited, limit, 2*limit)
	}
	if h := hits.Load(); h != limit {
		t.Errorf("upstream calls = %d, want %d", h, limit)
	}
	// Stopped, so every consume log is written.
	running = false
	a.stop(t)
	b.stop(t)
	var logs int64
	if err := e.store.Gorm().Model(&model.Log{}).Where("type = ? AND token_name = ?", model.LogConsume, tok.name).Count(&logs).Error; err != nil {
		t.Fatal(err)
	}
	if logs != limit {
		t.Errorf("consume logs = %d, want %d", logs, limit)
	}
}
