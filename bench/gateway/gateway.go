// Package gateway runs the one-api gateway as a real process for the
// benchmark: build it, start it on a fresh SQLite file (or, with Shared, one
// or more nodes on a fresh PostgreSQL schema and Redis key prefix), set it
// up through the admin API (a channel pointing at the mock and an unlimited
// token), stop it with SIGTERM, and read what it wrote to its database
// afterwards.
//
// Everything it assumes about the gateway is the contract in
// shared/spec/compat.md (admin API, envelope, env names); this file is the one
// place to adapt if that contract moves.
package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config is one gateway process.
type Config struct {
	Bin string   // built gateway binary
	Dir string   // working directory, holds the database and the log
	Env []string // arm settings, KEY=VALUE; they win over the defaults
	// Pin is a taskset CPU list ("0"); empty runs the process unpinned.
	Pin string
	// AdminToken is the root access token to use; empty makes a new one.
	// A second node on a database the first already set up passes the
	// first's: only a master bootstraps the root user.
	AdminToken string
}

// Process is a started, set-up gateway.
type Process struct {
	BaseURL    string
	AdminToken string
	DBPath     string
	LogPath    string
	Key        string // relay key, "sk-..." (set by Setup)

	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
	http   *http.Client
}

// ModuleRoot is the directory of the go.mod that holds dir.
func ModuleRoot(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", "GOMOD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("no go.mod above %s", dir)
	}
	return filepath.Dir(mod), nil
}

// Build compiles the gateway in srcDir into out.
func Build(ctx context.Context, srcDir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = srcDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build in %s: %w\n%s", srcDir, err, b)
	}
	return nil
}

// FreePort asks the kernel for an unused TCP port on loopback.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start launches the gateway and waits until GET /api/status answers. Its
// database is a fresh SQLite file in cfg.Dir unless cfg.Env names another
// (SQL_DSN, see Shared).
func Start(ctx context.Context, cfg Config) (*Process, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	token := cfg.AdminToken
	if token == "" {
		if token, err = randomHex(16); err != nil {
			return nil, err
		}
	}
	password, err := randomHex(8)
	if err != nil {
		return nil, err
	}
	p := &Process{
		BaseURL:    fmt.Sprintf("http://127.0.0.1:%d", port),
		AdminToken: token,
		DBPath:     filepath.Join(cfg.Dir, "one-api.db"),
		LogPath:    filepath.Join(cfg.Dir, "gateway.log"),
		exited:     make(chan struct{}),
		http:       &http.Client{Timeout: 30 * time.Second},
	}
	if p.log, err = os.Create(p.LogPath); err != nil {
		return nil, fmt.Errorf("gateway log: %w", err)
	}
	name, args := cfg.Bin, []string(nil)
	if cfg.Pin != "" {
		name, args = "taskset", []string{"-c", cfg.Pin, cfg.Bin}
	}
	p.cmd = exec.Command(name, args...)
	p.cmd.Dir = cfg.Dir
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	// A clean environment: a SQL_DSN or REDIS_CONN_STRING in the caller's
	// shell must not leak into the arm.
	p.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + cfg.Dir,
		"SQLITE_PATH=" + p.DBPath,
		"PORT=" + strconv.Itoa(port),
		"INITIAL_ROOT_PASSWORD=" + password,
		"INITIAL_ROOT_ACCESS_TOKEN=" + token,
		"GIN_MODE=release",
	}, cfg.Env...)
	if err := p.cmd.Start(); err != nil {
		p.log.Close()
		return nil, fmt.Errorf("start gateway: %w", err)
	}
	go func() {
		// Wait's owner is this goroutine; Stop and waitReady read exited.
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(ctx, 60*time.Second); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// Pid is the gateway's process id (taskset execs it, so the id is the same).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

func (p *Process) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastStatus := ""
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.BaseURL+"/api/status", nil)
		if resp, err := p.http.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			// Listening but answering something else: give it a moment,
			// not the whole start-up allowance.
			if soon := time.Now().Add(3 * time.Second); lastStatus == "" && soon.Before(deadline) {
				deadline = soon
			}
			lastStatus = resp.Status
		}
		select {
		case <-p.exited:
			return fmt.Errorf("gateway exited during start-up (%s):\n%s", p.cmd.ProcessState, p.LogTail(2048))
		case <-ctx.Done():
			return fmt.Errorf("wait for gateway: %w", ctx.Err())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			if lastStatus != "" {
				return fmt.Errorf("GET /api/status answers %s, want 200 OK", lastStatus)
			}
			return fmt.Errorf("gateway did not answer /api/status within %v:\n%s", limit, p.LogTail(2048))
		}
	}
}

// Exit is what the kernel reports about the ended process.
type Exit struct {
	CPU     time.Duration `json:"cpu_ns"` // utime+stime over the whole life
	MaxRSS  int64         `json:"max_rss_bytes"`
	Code    int           `json:"code"`
	Signal  string        `json:"signal,omitempty"` // set when it had to be killed
	Elapsed time.Duration `json:"stop_ns"`          // from SIGTERM to exit
}

// ErrStopTimeout means the gateway ignored SIGTERM and was killed.
var ErrStopTimeout = errors.New("gateway did not stop on SIGTERM")

// Stop sends SIGTERM and waits up to timeout for the process to flush and
// exit; past that it is killed and ErrStopTimeout returned.
func (p *Process) Stop(timeout time.Duration) (Exit, error) {
	defer p.log.Close()
	start := time.Now()
	var err error
	if sigErr := p.cmd.Process.Signal(syscall.SIGTERM); sigErr != nil && !errors.Is(sigErr, os.ErrProcessDone) {
		err = fmt.Errorf("sigterm gateway: %w", sigErr)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		err = ErrStopTimeout
	}
	st := p.cmd.ProcessState
	ex := Exit{Code: st.ExitCode(), Elapsed: time.Since(start), CPU: st.UserTime() + st.SystemTime()}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		ex.MaxRSS = int64(ru.Maxrss) << 10 // Linux reports KiB
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		ex.Signal = ws.Signal().String()
	}
	return ex, err
}

// Kill ends the process at once; for error paths.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.log.Close()
}

// LogTail is the end of the gateway's output, for error messages.
func (p *Process) LogTail(n int64) string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(bytes.TrimSpace(b))
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return hex.EncodeToString(b), nil
}
