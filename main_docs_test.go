package main

// The operator guide's promises, checked against the built binary
// (gatewayBin, from TestMain): --check-config on the shipped env files, and
// every URL the guides tell operators to call is served.

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"one-api/metrics"
)

var operatorGuides = []string{"docs/performance.md", "docs/performance.zh-CN.md"}

// checkConfig runs `one-api --check-config` with a minimal environment.
func checkConfig(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(gatewayBin, append([]string{"--check-config"}, args...)...)
	cmd.Dir = t.TempDir() // no stray .env
	// gatewayBin is race-enabled; the race runtime otherwise sleeps 1 s at exit.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0"}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run --check-config: %v", err)
	}
	return out.String(), errOut.String(), code
}

func absPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckConfigShippedFiles(t *testing.T) {
	const secret = "supersecretvalue"
	tests := []struct {
		file string
		want []string // lines of the effective configuration
	}{
		{".env.example", []string{"SQLite.CacheSize = -64000", "LogBatch.Enabled = false", "Pprof.Enabled = false"}},
		{"docs/profiles/conservative.env", []string{"SQLite.CacheSize = -32000", "HTTP.KeepAlive = 1m0s", "Pprof.Enabled = false"}},
		{"docs/profiles/aggressive.env", []string{"SQLite.CacheSize = -128000", "LogBatch.ConsumeEnabled = false", "BatchUpdate.Enabled = true", "Pprof.Enabled = true", "Pprof.Host = 127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			out, errOut, code := checkConfig(t, []string{"SESSION_SECRET=" + secret}, "--env-file", absPath(t, tt.file))
			if code != 0 {
				t.Fatalf("exit status %d, want 0; stderr:\n%s", code, errOut)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(out, "\n") {
				lines[l] = true
			}
			for _, w := range tt.want {
				if !lines[w] {
					t.Errorf("effective configuration lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out+errOut, secret) {
				t.Errorf("SESSION_SECRET printed unmasked:\n%s", out)
			}
			if !strings.Contains(out, "SessionSecret = su") {
				t.Errorf("no masked SessionSecret line:\n%s", out)
			}
		})
	}
}

func TestCheckConfigRejectsBadValue(t *testing.T) {
	out, errOut, code := checkConfig(t, []string{"SQLITE_JOURNAL_MODE=FAST"}, "--env-file", absPath(t, "docs/profiles/aggressive.env"))
	if code != 2 {
		t.Fatalf("exit status %d, want 2; stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "SQLITE_JOURNAL_MODE") {
		t.Errorf("stderr does not name SQLITE_JOURNAL_MODE:\n%s", errOut)
	}
	if out != "" {
		t.Errorf("a rejected configuration was printed:\n%s", out)
	}
}

// guideRequest is one call a guide tells the operator to make.
type guideRequest struct {
	method, port, path string // path includes the query
	source             string // file:line, for the failure message
}

var (
	guideURLRE = regexp.MustCompile("(?:https?://)?(?:localhost|127\\.0\\.0\\.1):(\\d+)(/[^\\s\"'`)]*)")
	postRE     = regexp.MustCompile(`-X ?POST|\s-d\s|--data|^ab .*\s-p\s`)
)

// guideRequests collects every URL on the gateway's ports in the guides,
// with the method its command uses. Shell continuation lines are joined so a
// curl's flags and URL are seen together.
func guideRequests(t *testing.T) []guideRequest {
	t.Helper()
	var reqs []guideRequest
	for _, g := range operatorGuides {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			start, cmd := i, strings.TrimSpace(lines[i])
			for strings.HasSuffix(cmd, "\\") && i+1 < len(lines) {
				i++
				cmd = strings.TrimSuffix(cmd, "\\") + " " + strings.TrimSpace(lines[i])
			}
			method := http.MethodGet
			if postRE.MatchString(cmd) {
				method = http.MethodPost
			}
			for _, m := range guideURLRE.FindAllStringSubmatch(cmd, -1) {
				reqs = append(reqs, guideRequest{method: method, port: m[1], path: m[2], source: g + ":" + strconv.Itoa(start+1)})
			}
		}
	}
	if len(reqs) < 10 {
		t.Fatalf("found only %d URLs in the guides: has their host spelling changed?", len(reqs))
	}
	return reqs
}

// pprofEndpoints are the net/http/pprof pages the guides may point at.
var pprofEndpoints = map[string]bool{
	"": true, "cmdline": true, "profile": true, "symbol": true, "trace": true, "heap": true,
	"goroutine": true, "block": true, "mutex": true, "allocs": true, "threadcreate": true,
}

// TestGuideURLsAreServed: every URL on the main port that the guides use is
// answered by the router (anything but 404 with an admin token; the router's
// fallback answers 404), and every one on the pprof port is a pprof page.
func TestGuideURLsAreServed(t *testing.T) {
	reqs := guideRequests(t)
	const adminToken = "docs-test-admin-token-0123456789"
	g := startGateway(t, t.TempDir(), map[string]string{"INITIAL_ROOT_ACCESS_TOKEN": adminToken})
	defer g.stop(t)

	seen := map[string]bool{}
	for _, r := range reqs {
		switch r.port {
		case "6060":
			page, ok := strings.CutPrefix(strings.SplitN(r.path, "?", 2)[0], "/debug/pprof/")
			if !ok || !pprofEndpoints[page] {
				t.Errorf("%s: %s is not a net/http/pprof page", r.source, r.path)
			}
			continue
		case "3000":
		default:
			t.Errorf("%s: port %s is neither the gateway's (3000) nor pprof's (6060)", r.source, r.port)
			continue
		}
		key := r.method + " " + r.path
		if seen[key] {
			continue
		}
		seen[key] = true
		body := ""
		if r.method == http.MethodPost {
			body = "{}"
		}
		req, err := http.NewRequest(r.method, g.base+r.path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s: %s: %v", r.source, key, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Errorf("%s: %s is not routed (404)", r.source, key)
		}
	}
}

var (
	metricsSectionRE = regexp.MustCompile("(?s)### `/api/metrics/`\n(.*?)\n### ")
	tableKeyRE       = regexp.MustCompile("`([a-z0-9_]+)`")
)

// TestGuideMetricsKeys: the /api/metrics/ key table in each guide lists
// exactly the keys the endpoint answers with.
func TestGuideMetricsKeys(t *testing.T) {
	b, err := json.Marshal(metrics.Snapshot{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var want []string
	for k := range m {
		want = append(want, k)
	}
	sort.Strings(want)
	for _, g := range operatorGuides {
		doc, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		sec := metricsSectionRE.FindSubmatch(doc)
		if sec == nil {
			t.Fatalf("%s: no \"### `/api/metrics/`\" section", g)
		}
		var got []string
		for _, l := range strings.Split(string(sec[1]), "\n") {
			cells := strings.Split(l, "|")
			if len(cells) < 3 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
				continue
			}
			for _, k := range tableKeyRE.FindAllStringSubmatch(cells[1], -1) {
				got = append(got, k[1])
			}
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: the /api/metrics/ table lists\n  %s\nthe endpoint answers with\n  %s", g, strings.Join(got, ", "), strings.Join(want, ", "))
		}
	}
}
