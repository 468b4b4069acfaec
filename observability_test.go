package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"one-api/common"
	"one-api/model"
)

// These tests hold the operator kit to the real tools: promtool checks a
// scrape and the alert rules, and a real Prometheus scrapes a gateway under
// load and answers every query of the Grafana dashboard. CI installs
// Debian's prometheus package; without it they skip.

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			// .ci/run installs it: a CI run must not pass by skipping.
			t.Fatalf("%s is not installed in CI: %v", name, err)
		}
		t.Skipf("%s is not installed (apt-get install prometheus): %v", name, err)
	}
	return p
}

// TestAlertRulesUnitTests runs promtool's unit tests of docs/prometheus.
func TestAlertRulesUnitTests(t *testing.T) {
	promtool := needTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Join("docs", "prometheus")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// observedGateway is a gateway with every series fed: batched quota and
// logs, the token cache, a channel that works and one that answers 500.
func observedGateway(t *testing.T) *gateway {
	t.Helper()
	up := fakeUpstream(t)
	t.Cleanup(up.Close)
	broken := httptestServer(t, http.StatusInternalServerError, `{"error":{"message":"overloaded","type":"server_error"}}`)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "one-api.db")
	tokens, _ := seedLedgerDB(t, dbPath, up.URL)
	st, err := model.Open(model.OpenConfig{SQLitePath: dbPath, SQLite: common.SQLiteConfig{BusyTimeout: 5000, JournalMode: "WAL", Synchronous: "NORMAL", MaxOpenConns: 1, MaxIdleConns: 1}})
	if err != nil {
		t.Fatal(err)
	}
	prio, weight := int64(0), uint(1)
	if err := st.Gorm().Create(&model.Channel{Type: model.ChannelOpenAI, Key: "sk-broken", Status: model.ChannelEnabled, Name: "broken",
		Weight: &weight, BaseURL: &broken, Models: "gpt-4", Group: "default", Priority: &prio}).Error; err != nil {
		t.Fatal(err)
	}
	if err := st.Gorm().Create(&model.Ability{Group: "default", Model: "gpt-4", ChannelID: 2, Enabled: true, Priority: &prio}).Error; err != nil {
		t.Fatal(err)
	}
	st.Close()
	gw := startGateway(t, dir, map[string]string{
		"SQLITE_PATH": dbPath, "METRICS_PUBLIC": "true", "ACCESS_LOG_ENABLED": "false",
		"LOG_BATCH_ENABLED": "true", "LOG_BATCH_FLUSH_INTERVAL": "1",
		"BATCH_UPDATE_ENABLED": "true", "BATCH_UPDATE_INTERVAL": "1",
	})
	t.Cleanup(func() { gw.stop(t) })

	// A little load until the test ends: streams and plain answers, 5xx
	// (gpt-4's channel is broken) and 4xx (a wrong key).
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 10 * time.Second}
		for n := 0; ctx.Err() == nil; n++ {
			tok := tokens[n%len(tokens)]
			_, _ = sendChat(client, gw.base, tok, n, n%2 == 0)
			if n%5 == 0 {
				postChat(client, gw.base, "sk-"+tok.key, "gpt-4")
				postChat(client, gw.base, "sk-wrong", "gpt-3.5-turbo")
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return gw
}

// httptestServer answers every request with status and body.
func httptestServer(t *testing.T, status int, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func postChat(client *http.Client, base, key, model string) {
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"req-1"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// TestPrometheusScrapesDashboardQueries: promtool accepts a scrape; a real
// Prometheus scraping the gateway loads the alert rules without error and
// answers every query of docs/grafana/one-api.json with data.
func TestPrometheusScrapesDashboardQueries(t *testing.T) {
	promtool := needTool(t, "promtool")
	prometheus := needTool(t, "prometheus")
	if testing.Short() {
		t.Skip("runs the real binary and Prometheus; skipped with -short")
	}
	gw := observedGateway(t)

	for _, path := range []string{"/healthz", "/readyz"} {
		if code := getStatus(t, gw.base+path); code != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", path, code)
		}
	}

	// promtool check metrics lints the exposition (names, help, types).
	time.Sleep(500 * time.Millisecond) // a few requests in, so the vectors have children
	scrape := get(t, gw.base+"/metrics")
	lint := exec.Command(promtool, "check", "metrics")
	lint.Stdin = bytes.NewReader(scrape)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// A real Prometheus, its own port and storage, scraping every second.
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join("docs", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(gw.base, "http://")
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: one-api
    static_configs:
      - targets: [%q]
`, rules, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	promBase := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	cmd := exec.Command(prometheus, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+strings.TrimPrefix(promBase, "http://"), "--log.level=warn")
	var promOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &promOut, &promOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	// Ready once five scrapes landed: every rate() window then holds
	// several samples.
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := promQuery(promBase, `count_over_time(up{job="one-api"}[1m]) >= 5 and up{job="one-api"} == 1`)
		if err == nil && len(res) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not scrape the gateway in time (last error %v)\n%s", err, promOut.String())
		}
		time.Sleep(500 * time.Millisecond)
	}

	queries := dashboardQueries(t)
	if len(queries) < 30 {
		t.Fatalf("found only %d queries in the dashboard", len(queries))
	}
	for _, q := range queries {
		res, err := promQuery(promBase, q.expr)
		switch {
		case err != nil:
			t.Errorf("panel %q: %s: %v", q.panel, q.expr, err)
		case len(res) == 0:
			t.Errorf("panel %q: %s: no data", q.panel, q.expr)
		}
	}

	// The alert rules loaded and evaluate without error.
	var rulesResp struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
				}
			}
		}
	}
	if err := json.Unmarshal(get(t, promBase+"/api/v1/rules"), &rulesResp); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rulesResp.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health == "err" {
				t.Errorf("rule %s: %s", r.Name, r.LastError)
			}
		}
	}
	if n < 10 {
		t.Errorf("Prometheus loaded %d alert rules, want 10", n)
	}
}

type panelQuery struct{ panel, expr string }

var grafanaVar = strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*")

// dashboardQueries is every target of every panel, with Grafana's variables
// as a viewer with "All" instances would have them.
func dashboardQueries(t *testing.T) []panelQuery {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	b, err := os.ReadFile(filepath.Join("docs", "grafana", "one-api.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out []panelQuery
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, panelQuery{p.Title, grafanaVar.Replace(tg.Expr)})
		}
	}
	return out
}

// promQuery runs an instant query and returns its result vector.
func promQuery(base, q string) ([]json.RawMessage, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string
		Error  string
		Data   struct {
			ResultType string
			Result     json.RawMessage
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("%s: %s", out.Status, out.Error)
	}
	var vec []json.RawMessage
	if err := json.Unmarshal(out.Data.Result, &vec); err != nil {
		return nil, fmt.Errorf("result type %s: %w", out.Data.ResultType, err)
	}
	return vec, nil
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

func getStatus(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDashboardPortable: the dashboard imports into current Grafana on any
// instance: a current schema version, and every data source is the
// DS_PROMETHEUS input/variable, never a UID of the author's Grafana.
func TestDashboardPortable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("docs", "grafana", "one-api.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Inputs        []struct{ Name, Type, PluginID string } `json:"__inputs"`
		SchemaVersion int
		Templating    struct{ List []struct{ Name, Type string } }
		Panels        []struct {
			ID int
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d: older than Grafana 11's", d.SchemaVersion)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs %+v, want one prometheus data source DS_PROMETHEUS", d.Inputs)
	}
	if len(d.Templating.List) == 0 || d.Templating.List[0].Name != "DS_PROMETHEUS" || d.Templating.List[0].Type != "datasource" {
		t.Errorf("the first variable should be the DS_PROMETHEUS data source: %+v", d.Templating.List)
	}
	var all any
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	n := 0
	walkDatasources(all, func(ds any) {
		n++
		if m, ok := ds.(map[string]any); !ok || m["uid"] != "${DS_PROMETHEUS}" {
			t.Errorf("data source %v is not the DS_PROMETHEUS variable", ds)
		}
	})
	if n < 30 {
		t.Errorf("only %d data source references", n)
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
	}
}

// walkDatasources calls fn with every "datasource" value in v.
func walkDatasources(v any, fn func(any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "datasource" {
				fn(e)
				continue
			}
			walkDatasources(e, fn)
		}
	case []any:
		for _, e := range x {
			walkDatasources(e, fn)
		}
	}
}
