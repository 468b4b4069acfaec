package main

import (
	"bufio"

	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"one-api/common"
	"one-api/model"
)

// The ledger tests are the ones that matter (issue 5): with every batching
// option on, 64 clients and a SIGTERM halfway through, every successful
// request is billed once and logged once.

// fakeUsage is the usage the fake upstream reports for request n.
func fakeUsage(n int) (prompt, completion int) { return 10 + n%7, 3 + n%5 }

// wantQuota is one-api's formula for gpt-3.5-turbo (ratio 0.25, completion
// ratio 3) in the default group.
func wantQuota(n int) int64 {
	p, c := fakeUsage(n)
	return int64(math.Ceil((float64(p) + float64(c)*3) * 0.25))
}

// fakeUpstream answers chat completions; the request number travels in the
// user message ("req-N") so usage is known per request.
func fakeUpstream(t *testing.T) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream        bool `json:"stream"`
			StreamOptions *struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
			http.Error(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(req.Messages[0].Content, "req-"))
		p, c := fakeUsage(n)
		time.Sleep(2 * time.Millisecond)
		usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`, p, c, p+c)
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"chatcmpl-%d","object":"chat.completion","created":1,"model":"gpt-3.5-turbo","choices":[{"index":0,"message":{"role":"assistant","content":"%s"},"finish_reason":"stop"}],"usage":%s}`,
				n, strings.Repeat("x", c), usage)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for i := 0; i < c; i++ {
			fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-%d\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-3.5-turbo\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\n\n", n)
			fl.Flush()
		}
		if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
			fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-%d\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-3.5-turbo\",\"choices\":[],\"usage\":%s}\n\n", n, usage)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		fl.Flush()
	}))
}

type seededToken struct {
	key, name string
	userID    int
	unlimited bool
	initial   int64
}

const ledgerUsers = 4

// seedLedgerDB creates the database with users, tokens and one channel the
// way an operator's existing install would have them.
func seedLedgerDB(t *testing.T, path, upstream string) (tokens []seededToken, userInitial int64) {
	t.Helper()
	st, err := model.Open(model.OpenConfig{SQLitePath: path, SQLite: common.SQLiteConfig{
		BusyTimeout: 5000, JournalMode: "WAL", Synchronous: "NORMAL", MaxOpenConns: 2, MaxIdleConns: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	userInitial = 50_000_000
	db := st.Gorm()
	prio := int64(0)
	weight := uint(1)
	base := upstream
	if err := db.Create(&model.Channel{Type: model.ChannelOpenAI, Key: "sk-upstream", Status: model.ChannelEnabled, Name: "fake",
		Weight: &weight, BaseURL: &base, Models: "gpt-3.5-turbo", Group: "default", Priority: &prio}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&model.Ability{Group: "default", Model: "gpt-3.5-turbo", ChannelID: 1, Enabled: true, Priority: &prio}).Error; err != nil {
		t.Fatal(err)
	}
	for u := 1; u <= ledgerUsers; u++ {
		user := &model.User{Username: fmt.Sprintf("user%d", u), Password: "x", Role: model.RoleCommon, Status: model.UserEnabled,
			Quota: userInitial, Group: "default", AccessToken: common.RandomString(32), AffCode: common.RandomString(8)}
		if err := db.Create(user).Error; err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 3; k++ {
			tok := seededToken{key: common.RandomString(48), name: fmt.Sprintf("u%d-t%d", u, k), userID: user.ID, unlimited: k == 2, initial: 10_000_000}
			if tok.unlimited {
				tok.initial = 0
			}
			if err := db.Create(&model.Token{UserID: user.ID, Key: tok.key, Status: model.TokenEnabled, Name: tok.name,
				ExpiredTime: -1, RemainQuota: tok.initial, UnlimitedQuota: tok.unlimited}).Error; err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, tok)
		}
	}
	return tokens, userInitial
}

// sendChat sends request n and reports whether the client saw a complete,
// successful answer.
func sendChat(client *http.Client, base string, tok seededToken, n int, stream bool) (bool, error) {
	ok, _, err := sendChatID(client, base, tok, n, stream)
	return ok, err
}

// sendChatID is sendChat that also returns the gateway's request id, which
// the consume log records.
func sendChatID(client *http.Client, base string, tok seededToken, n int, stream bool) (ok bool, requestID string, err error) {
	ok, err = func() (bool, error) {
		resp, err := postLedgerChat(client, base, tok, n, stream)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		requestID = resp.Header.Get("X-Oneapi-Request-Id")
		return readChat(resp, stream)
	}()
	return ok, requestID, err
}

func postLedgerChat(client *http.Client, base string, tok seededToken, n int, stream bool) (*http.Response, error) {
	body := fmt.Sprintf(`{"model":"gpt-3.5-turbo","stream":%t,"messages":[{"role":"user","content":"req-%d"}]}`, stream, n)
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer sk-"+tok.key)
	req.Header.Set("Content-Type", "application/json")
	return client.Do(req)
}

// readChat reads an answer to its end: true when it was complete and
// successful.
func readChat(resp *http.Response, stream bool) (bool, error) {
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return false, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if !stream {
		var out struct {
			Usage struct {
				PromptTokens int `json:"prompt_tokens"`
			} `json:"usage"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return false, err
		}
		return out.Usage.PromptTokens > 0, nil
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "data: [DONE]" {
			return true, nil
		}
		if strings.Contains(line, `"error"`) {
			return false, fmt.Errorf("error event: %s", line)
		}
	}
	return false, fmt.Errorf("stream ended without [DONE]: %v", sc.Err())
}

type ledgerRun struct {
	blockDB time.Duration // hold an exclusive lock on the database this long mid-run
}

func TestLedgerExactAcrossSIGTERM(t *testing.T) {
	runLedger(t, ledgerRun{})
}

func TestLedgerExactWhenFlushesFail(t *testing.T) {
	runLedger(t, ledgerRun{blockDB: 2500 * time.Millisecond})
}

func runLedger(t *testing.T, opt ledgerRun) {
	if testing.Short() {
		t.Skip("ledger test runs the real binary; skipped with -short")
	}
	up := fakeUpstream(t)
	defer up.Close()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "one-api.db")
	tokens, userInitial := seedLedgerDB(t, dbPath, up.URL)
	env := map[string]string{
		"SQLITE_PATH":              dbPath,
		"LOG_BATCH_ENABLED":        "true",
		"LOG_BATCH_SIZE":           "50",
		"LOG_BATCH_FLUSH_INTERVAL": "1",
		"BATCH_UPDATE_ENABLED":     "true",
		"BATCH_UPDATE_INTERVAL":    "1",
		"LOCAL_CACHE_ENABLED":      "true",
		"ACCESS_LOG_ENABLED":       "false",
	}
	if opt.blockDB > 0 {
		env["SQLITE_BUSY_TIMEOUT"] = "50"
	}
	gw := startGateway(t, dir, env)
	var base atomic.Value
	base.Store(gw.base)

	const total, workers = 3000, 64
	jobs := make(chan int, total)
	for i := 0; i < total; i++ {
		jobs <- i
	}
	var (
		succeeded atomic.Int64
		remaining sync.WaitGroup
		restartMu sync.Once
		blockOnce sync.Once
		outputs   []string
		outMu     sync.Mutex
	)
	remaining.Add(total)
	restartDone := make(chan struct{})
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	restart := func() {
		gw.stop(t)
		outMu.Lock()
		outputs = append(outputs, gw.out.String())
		outMu.Unlock()
		gw = startGateway(t, dir, env)
		base.Store(gw.base)
		close(restartDone)
	}
	block := func() {
		conn, err := sql.Open("sqlite3", dbPath+"?_busy_timeout=10000")
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		ctx := context.Background()
		c, err := conn.Conn(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		if _, err := c.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
			t.Error(err)
			return
		}
		time.Sleep(opt.blockDB)
		if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
			t.Error(err)
		}
	}
	var blockWG sync.WaitGroup
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range jobs {
				tok := tokens[n%len(tokens)]
				for attempt := 0; ; attempt++ {
					ok, err := sendChat(client, base.Load().(string), tok, n, n%2 == 0)
					if ok {
						break
					}
					if attempt > 200 {
						t.Errorf("request %d never succeeded: %v", n, err)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				done := succeeded.Add(1)
				remaining.Done()
				if opt.blockDB > 0 && done == total/4 {
					blockOnce.Do(func() { blockWG.Add(1); go func() { defer blockWG.Done(); block() }() })
				}
				if done == total/2 {
					restartMu.Do(func() { go restart() })
				}
			}
		}()
	}
	close(jobs)
	wg.Wait()
	<-restartDone
	blockWG.Wait()
	gw.stop(t)
	outputs = append(outputs, gw.out.String())
	if t.Failed() {
		t.Fatalf("gateway output:\n%s", strings.Join(outputs, "\n----\n"))
	}

	var wantTotal int64
	for n := 0; n < total; n++ {
		wantTotal += wantQuota(n)
	}
	checkLedger(t, dbPath, tokens, userInitial, total, wantTotal)
	if opt.blockDB > 0 {
		all := strings.Join(outputs, "\n")
		if !strings.Contains(all, "flush") {
			t.Errorf("expected failed flushes to be logged; output:\n%s", all)
		}
	}
}

func checkLedger(t *testing.T, dbPath string, tokens []seededToken, userInitial int64, wantLogs int, wantQuotaSum int64) {
	t.Helper()
	db, err := sql.Open("sqlite3", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs, quotaSum int64
	if err := db.QueryRow(`SELECT count(*), coalesce(sum(quota),0) FROM logs WHERE type = 2`).Scan(&logs, &quotaSum); err != nil {
		t.Fatal(err)
	}
	if logs != int64(wantLogs) {
		t.Errorf("consume logs = %d, want %d (lost or duplicated rows)", logs, wantLogs)
	}
	if quotaSum != wantQuotaSum {
		t.Errorf("sum of logged quota = %d, want %d", quotaSum, wantQuotaSum)
	}
	for u := 1; u <= ledgerUsers; u++ {
		var quota, used, count, logSum, logCount int64
		name := fmt.Sprintf("user%d", u)
		if err := db.QueryRow(`SELECT quota, used_quota, request_count FROM users WHERE username = ?`, name).Scan(&quota, &used, &count); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT coalesce(sum(quota),0), count(*) FROM logs WHERE type = 2 AND username = ?`, name).Scan(&logSum, &logCount); err != nil {
			t.Fatal(err)
		}
		if logSum != used {
			t.Errorf("%s: sum of logs %d != used_quota %d", name, logSum, used)
		}
		if userInitial-quota != used {
			t.Errorf("%s: initial-quota %d != used_quota %d", name, userInitial-quota, used)
		}
		if count != logCount {
			t.Errorf("%s: request_count %d != logs %d", name, count, logCount)
		}
	}
	for _, tok := range tokens {
		var remain, used, logSum int64
		if err := db.QueryRow(`SELECT remain_quota, used_quota FROM tokens WHERE name = ?`, tok.name).Scan(&remain, &used); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT coalesce(sum(quota),0) FROM logs WHERE type = 2 AND token_name = ?`, tok.name).Scan(&logSum); err != nil {
			t.Fatal(err)
		}
		if tok.unlimited {
			continue
		}
		if logSum != used {
			t.Errorf("token %s: sum of logs %d != used_quota %d", tok.name, logSum, used)
		}
		if tok.initial-remain != used {
			t.Errorf("token %s: initial-remain %d != used_quota %d", tok.name, tok.initial-remain, used)
		}
	}
	var chUsed int64
	if err := db.QueryRow(`SELECT used_quota FROM channels WHERE id = 1`).Scan(&chUsed); err != nil {
		t.Fatal(err)
	}
	if chUsed != wantQuotaSum {
		t.Errorf("channel used_quota = %d, want %d", chUsed, wantQuotaSum)
	}
}
