package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadyzDrainsOnSIGTERM: from SIGTERM on, /readyz answers 503 while
// the gateway keeps serving for SHUTDOWN_DELAY (so a load balancer sees it
// before connections are refused), then it stops cleanly; /healthz stays 200
// throughout.
func TestReadyzDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary; skipped with -short")
	}
	dir := t.TempDir()
	gw := startGateway(t, dir, map[string]string{
		"SQLITE_PATH": filepath.Join(dir, "one-api.db"), "SHUTDOWN_DELAY": "3", "SHUTDOWN_TIMEOUT": "20",
	})
	for _, path := range []string{"/healthz", "/readyz"} {
		if code := getStatus(t, gw.base+path); code != http.StatusOK {
			t.Fatalf("before SIGTERM: GET %s = %d, want 200", path, code)
		}
	}
	if err := gw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The signal is handled asynchronously: wait for the flip, well inside
	// the delay.
	deadline := time.Now().Add(2 * time.Second)
	for getStatus(t, gw.base+"/readyz") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not turn 503 after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := getStatus(t, gw.base+"/healthz"); code != http.StatusOK {
		t.Errorf("during the delay: /healthz = %d, want 200 (alive)", code)
	}
	if code := getStatus(t, gw.base+"/api/status"); code != http.StatusOK {
		t.Errorf("during the delay: /api/status = %d, want 200 (still serving)", code)
	}
	select {
	case err := <-gw.done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, gw.out.String())
		}
	case <-time.After(30 * time.Second):
		gw.cmd.Process.Kill()
		t.Fatalf("did not stop\n%s", gw.out.String())
	}
	if !strings.Contains(gw.out.String(), "/readyz answers 503") {
		t.Errorf("no shutdown-delay line in the log:\n%s", gw.out.String())
	}
}
