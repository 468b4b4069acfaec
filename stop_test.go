package main

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"one-api/internal/hostile"
)

// runBinary runs the gateway with env in a fresh directory and returns its
// exit status, output and the files it left there.
func runBinary(t *testing.T, args []string, env ...string) (int, string, []string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(gatewayBin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "SESSION_SECRET=s"}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	return code, string(out), files
}

// TestStartRejectionsMatchCheckConfig (issue 12, defect 8): whatever
// start-up rejects before opening the database, --check-config rejects too,
// with the same status, and a rejected start leaves no file behind.
func TestStartRejectionsMatchCheckConfig(t *testing.T) {
	readOnly := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, env, want string
	}{
		{"long root access token", "INITIAL_ROOT_ACCESS_TOKEN=" + strings.Repeat("a", 40), "INITIAL_ROOT_ACCESS_TOKEN"},
		{"sqlite dir missing", "SQLITE_PATH=/nonexistent/dir/one-api.db", "SQLITE_PATH"},
		{"sqlite dir not writable", "SQLITE_PATH=" + filepath.Join(readOnly, "one-api.db"), "SQLITE_PATH"},
		{"sqlite dir is a file", "SQLITE_PATH=/etc/hostname/one-api.db", "SQLITE_PATH"},
		{"bad redis url", "REDIS_CONN_STRING=mysql://x", "REDIS_CONN_STRING"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if os.Geteuid() == 0 && strings.Contains(tc.name, "not writable") {
				t.Skip("root writes anywhere")
			}
			checkCode, checkOut, _ := runBinary(t, []string{"--check-config"}, tc.env)
			code, out, files := runBinary(t, nil, tc.env, "PORT=1")
			if code != 2 || checkCode != 2 {
				t.Errorf("start exits %d, --check-config %d; want 2 and 2\nstart: %s\ncheck: %s", code, checkCode, out, checkOut)
			}
			if !strings.Contains(out, tc.want) || !strings.Contains(checkOut, tc.want) {
				t.Errorf("messages do not name %s:\nstart: %s\ncheck: %s", tc.want, out, checkOut)
			}
			if strings.Contains(out, "no such file or directory") {
				t.Errorf("start says %q, want what is wrong in the operator's terms", out)
			}
			if len(files) != 0 {
				t.Errorf("a rejected start left %v behind", files)
			}
		})
	}
}

// TestShutdownDeadlineEndsAndBillsStreams (issue 12, defect 2): streams
// still running when the drain part of SHUTDOWN_TIMEOUT is spent are ended
// deliberately — a final error event — their delivered output billed and
// logged, the rest of each reservation refunded, all flushed before the
// database closes; with batching off and on.
func TestShutdownDeadlineEndsAndBillsStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%t", batched), func(t *testing.T) {
			up := hostile.New(t)
			dir := t.TempDir()
			dbPath := filepath.Join(dir, "one-api.db")
			tokens, userInitial := seedLedgerDB(t, dbPath, up.URL)
			env := map[string]string{"SQLITE_PATH": dbPath, "SHUTDOWN_TIMEOUT": "3"}
			if batched {
				for k, v := range map[string]string{"LOG_BATCH_ENABLED": "true", "BATCH_UPDATE_ENABLED": "true", "BATCH_UPDATE_INTERVAL": "60", "LOG_BATCH_FLUSH_INTERVAL": "60"} {
					env[k] = v
				}
			}
			gw := startGateway(t, dir, env)
			const n = 12
			started := make(chan struct{}, n)
			lasts := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					lasts[i] = streamUntilEnd(t, gw.base, tokens[i%len(tokens)], hostile.Body("slow:100", true), started)
				})
			}
			for range n {
				select {
				case <-started:
				case <-time.After(20 * time.Second):
					t.Fatalf("streams did not start\n%s", gw.out.String())
				}
			}
			stopped := time.Now()
			gw.stop(t)
			if d := time.Since(stopped); d > 3*time.Second+2*time.Second {
				t.Errorf("stop took %s with SHUTDOWN_TIMEOUT=3", d)
			}
			wg.Wait()
			for i, last := range lasts {
				if !strings.Contains(last, `"code":"server_shutting_down"`) {
					t.Errorf("stream %d ended with %q, want a server_shutting_down error event", i, last)
				}
			}
			if t.Failed() {
				t.Logf("gateway output:\n%s", gw.out.String())
			}
			sum := loggedQuota(t, dbPath)
			if sum <= 0 {
				t.Errorf("logged quota %d: delivered output was not billed", sum)
			}
			checkLedger(t, dbPath, tokens, userInitial, n, sum)
		})
	}
}

// streamUntilEnd posts a stream request, signals started after its second
// event, and returns the last data line it read.
func streamUntilEnd(t *testing.T, base string, tok seededToken, body string, started chan<- struct{}) string {
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer sk-"+tok.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("stream: %v", err)
		started <- struct{}{}
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	events, last := 0, ""
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			last = d
			if events++; events == 2 {
				started <- struct{}{}
			}
		}
	}
	if events < 2 {
		started <- struct{}{}
	}
	return last
}

func loggedQuota(t *testing.T, dbPath string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite3", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sum int64
	if err := db.QueryRow(`SELECT coalesce(sum(quota),0) FROM logs WHERE type = 2`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestIdleClientsClosed (issue 12, defect 3): an idle keep-alive
// connection is closed after CLIENT_IDLE_TIMEOUT, and oversized headers are
// refused instead of buffered.
func TestIdleClientsClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dir := t.TempDir()
	gw := startGateway(t, dir, map[string]string{"SQLITE_PATH": filepath.Join(dir, "one-api.db"), "CLIENT_IDLE_TIMEOUT": "1"})
	defer gw.stop(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: read = %v, want EOF (closed by the server)", err)
	}

	req, _ := http.NewRequest(http.MethodGet, gw.base+"/api/status", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB of headers: status %d, want 431", r2.StatusCode)
	}
}
