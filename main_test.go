package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"one-api/common"
	"one-api/internal/logtest"
	"one-api/model"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// gatewayBin is the real binary, built once: the lifecycle tests send it
// signals the way systemd does.
var gatewayBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "one-api-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatewayBin = filepath.Join(dir, "one-api")
	build := exec.Command("go", "build", "-race", "-o", gatewayBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gateway:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// gateway is one running gateway process.
type gateway struct {
	cmd  *exec.Cmd
	base string
	out  *logtest.Buffer
	done chan error
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startGateway runs the binary in dir with env (on top of a minimal
// environment) and waits until /api/status answers.
func startGateway(t *testing.T, dir string, env map[string]string) *gateway {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(gatewayBin, "--port", strconv.Itoa(port))
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GIN_MODE=release", "SESSION_SECRET=test-secret"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	g := &gateway{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), out: &logtest.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = g.out, g.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-g.done:
			t.Fatalf("gateway exited early: %v\n%s", err, g.out.String())
		default:
		}
		resp, err := http.Get(g.base + "/api/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.cmd.Process.Kill()
	t.Fatalf("gateway did not become ready\n%s", g.out.String())
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (g *gateway) stop(t *testing.T) {
	t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-g.done:
		if err != nil {
			t.Fatalf("gateway exit: %v\n%s", err, g.out.String())
		}
	case <-time.After(60 * time.Second):
		g.cmd.Process.Kill()
		t.Fatalf("gateway did not stop within 60s\n%s", g.out.String())
	}
}

func TestBadConfigExitsTwo(t *testing.T) {
	cases := []struct{ env, name string }{
		{"SQLITE_JOURNAL_MODE=FAST", "SQLITE_JOURNAL_MODE"},
		{"LOG_BATCH_SIZE=-3", "LOG_BATCH_SIZE"},
		{"HTTP_KEEPALIVE=abc", "HTTP_KEEPALIVE"},
		{"PORT=70000", "PORT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(gatewayBin)
			cmd.Dir = t.TempDir()
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), tc.env}
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 2 {
				t.Fatalf("exit = %v, want status 2; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.name) {
				t.Errorf("output does not name %s:\n%s", tc.name, out)
			}
			if n := strings.Count(strings.TrimSpace(string(out)), "\n"); n != 0 {
				t.Errorf("want one line, got %d:\n%s", n+1, out)
			}
		})
	}
}

func TestAnnounceRootShowsOnlyGeneratedSecrets(t *testing.T) {
	tests := []struct {
		name              string
		creds             model.RootCredentials
		want, mustNotShow []string
	}{
		{"both generated", model.RootCredentials{Password: "genpass", AccessToken: "gentoken", PasswordGenerated: true, AccessTokenGenerated: true},
			[]string{"genpass", "gentoken"}, nil},
		{"password configured", model.RootCredentials{Password: "mine", AccessToken: "gentoken", AccessTokenGenerated: true},
			[]string{"gentoken"}, []string{"mine"}},
		{"all configured", model.RootCredentials{Password: "mine", AccessToken: "minetoken"},
			nil, []string{"mine", "minetoken"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			restore := common.SetLogOutput(&out)
			defer restore()
			announceRoot(&out, &tt.creds)
			for _, s := range tt.want {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tt.mustNotShow {
				if strings.Contains(out.String(), s) {
					t.Errorf("output shows configured secret %q:\n%s", s, out.String())
				}
			}
		})
	}
}
