package relay

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"one-api/internal/logtest"
	"strings"
	"sync"
	"testing"

	"one-api/internal/testdb"
	"one-api/model"
)

// TestConcurrentBilling is the load one-api failed (it lost 56% of consume
// logs and 60% of billing): 64 clients × 50 requests, half of them streams,
// against one SQLite file with the direct ledger and log sink. Every request
// must succeed, be logged once, and be charged exactly. PostgreSQL and
// MySQL get the same 64-way contention with 5 requests per client: each
// commit is a round trip and an fsync there, and CI has 2 cores.
func TestConcurrentBilling(t *testing.T) { testdb.Run(t, testConcurrentBilling) }

func testConcurrentBilling(t *testing.T, dialect string) {
	clients, perClient := 64, 50
	if dialect != testdb.SQLite {
		perClient = 5
	}
	const initial = int64(1e9)
	up := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if bytes.Contains(body, []byte(`"stream":true`)) {
			answerStream(10, 20)(w, r, body)
			return
		}
		answerJSON(10, 20)(w, r, body)
	})
	e := newEnv(t, envConfig{dialect: dialect, channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo")}})
	logOut := logtest.Capture(t)
	srv := newServer(t, e)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()

	errs := make(chan error, clients*perClient)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				stream := (c+i)%2 == 0
				body := fmt.Sprintf(`{"model":"gpt-3.5-turbo","stream":%t,"messages":[{"role":"user","content":"hi %d"}]}`, stream, i)
				req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+e.key)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || (stream && !bytes.HasSuffix(b, []byte("data: [DONE]\n\n"))) {
					errs <- fmt.Errorf("status %d, %v: %s", resp.StatusCode, err, b)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d requests failed", n, clients*perClient)
	}

	total := int64(clients * perClient)
	var logCount, distinctIDs, logQuota int64
	e.store.LogGorm().Model(&model.Log{}).Where("type = ?", model.LogConsume).Count(&logCount)
	e.store.LogGorm().Model(&model.Log{}).Where("type = ?", model.LogConsume).Distinct("request_id").Count(&distinctIDs)
	e.store.LogGorm().Model(&model.Log{}).Where("type = ?", model.LogConsume).Select("COALESCE(SUM(quota), 0)").Scan(&logQuota)
	if logCount != total || distinctIDs != total {
		t.Errorf("%d consume logs with %d request ids, want %d", logCount, distinctIDs, total)
	}
	b := e.balances(1)
	if logQuota != total*18 || b.UserUsed != logQuota || b.TokenUsed != logQuota || b.ChannelUsed != logQuota {
		t.Errorf("log quota sum %d, user used %d, token used %d, channel used %d; want all %d", logQuota, b.UserUsed, b.TokenUsed, b.ChannelUsed, total*18)
	}
	if b.UserQuota != initial-b.UserUsed || b.TokenRemain != initial-b.TokenUsed || b.Requests != int(total) {
		t.Errorf("balances = %+v: quota and used_quota disagree", b)
	}
	if out := logOut.String(); strings.Contains(out, "locked") || strings.Contains(out, "[ERR]") {
		t.Errorf("errors logged under load:\n%s", out)
	}
}
