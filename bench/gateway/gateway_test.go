package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"one-api/bench/mock"
)

// buildFake compiles testdata/fakegw, a stand-in that implements the
// contract this package relies on.
func buildFake(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a helper binary")
	}
	bin := filepath.Join(t.TempDir(), "fakegw")
	if err := Build(context.Background(), "testdata/fakegw", bin); err != nil {
		t.Fatalf("build fake gateway: %v", err)
	}
	return bin
}

func TestLifecycleAgainstFake(t *testing.T) {
	bin := buildFake(t)
	m, err := mock.New(mock.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(m)
	defer up.Close()
	body := []byte(`{"model":"gpt-3.5-turbo","messages":[]}`)

	tests := []struct {
		name        string
		env         []string
		adminToken  string
		requests    int
		wantLogs    int64
		wantMetrics bool
	}{
		{"clean", []string{"METRICS_ENABLED=true"}, "", 5, 6, true}, // 5 + the probe
		{"drops logs, metrics off", []string{"METRICS_ENABLED=false", "FAKEGW_DROP_LOGS=2"}, "", 3, 2, false},
		// A second node reuses the first's root token.
		{"given admin token", []string{"METRICS_ENABLED=true"}, "rootofnodeone", 1, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			p, err := Start(ctx, Config{Bin: bin, Dir: t.TempDir(), Env: tt.env, AdminToken: tt.adminToken})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			stopped := false
			defer func() {
				if !stopped {
					p.Kill()
				}
			}()
			if tt.adminToken != "" && p.AdminToken != tt.adminToken {
				t.Errorf("admin token = %q, want %q", p.AdminToken, tt.adminToken)
			}
			if err := p.Setup(ctx, up.URL, "gpt-3.5-turbo"); err != nil {
				t.Fatalf("Setup: %v", err)
			}
			if !strings.HasPrefix(p.Key, "sk-") || len(p.Key) != 51 {
				t.Errorf("key = %q, want sk- and 48 characters", p.Key)
			}
			if err := p.Probe(ctx, body, 5*time.Second); err != nil {
				t.Fatalf("Probe: %v", err)
			}
			resetErr := p.ResetMetrics(ctx)
			if g, w := resetErr == nil, tt.wantMetrics; g != w {
				t.Fatalf("ResetMetrics err = %v, want metrics %v", resetErr, w)
			}
			if resetErr != nil && !errors.Is(resetErr, ErrNoMetrics) {
				t.Errorf("ResetMetrics err = %v, want ErrNoMetrics", resetErr)
			}
			for range tt.requests {
				if status, msg, err := p.try(ctx, body); err != nil || status != http.StatusOK {
					t.Fatalf("relay: %d %s %v", status, msg, err)
				}
			}
			if tt.wantMetrics {
				mt, err := p.ReadMetrics(ctx)
				if err != nil {
					t.Fatalf("ReadMetrics: %v", err)
				}
				if g, w := mt.DBQueryCount, int64(2*tt.requests); g != w {
					t.Errorf("db_query_count = %d, want %d", g, w)
				}
			}
			ex, err := p.Stop(10 * time.Second)
			stopped = true
			if err != nil || ex.Code != 0 {
				t.Fatalf("Stop = %+v, %v; want a clean exit", ex, err)
			}
			if ex.MaxRSS <= 0 {
				t.Errorf("max RSS = %d, want > 0", ex.MaxRSS)
			}
			l, err := ReadLedger(p.DBPath)
			if err != nil {
				t.Fatalf("ReadLedger: %v", err)
			}
			if g, w := l.ConsumeLogs, tt.wantLogs; g != w {
				t.Errorf("consume logs = %d, want %d", g, w)
			}
			if g, w := l.UserRequests, int64(tt.requests+1); g != w {
				t.Errorf("user request_count = %d, want %d", g, w)
			}
		})
	}
}

func TestStartFailsFast(t *testing.T) {
	// A binary that exits at once: Start must say so, not wait a minute.
	sh, err := exec.LookPath("false")
	if err != nil {
		t.Skip("no false(1)")
	}
	_, err = Start(context.Background(), Config{Bin: sh, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "exited during start-up") {
		t.Errorf("Start(false) = %v, want an exited-during-start-up error", err)
	}
}

// TestSetupFindsKeyInList covers one-api v0.6, whose POST /api/token/
// answers without data.
func TestSetupFindsKeyInList(t *testing.T) {
	tests := []struct {
		name    string
		list    string
		wantKey string
		wantErr bool
	}{
		{"array", `[{"name":"other","key":"x"},{"name":"bench","key":"abc"}]`, "sk-abc", false},
		{"paged", `{"items":[{"name":"bench","key":"sk-def"}]}`, "sk-def", false},
		{"missing", `[]`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer admintoken" {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				data := "null"
				if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/token/") {
					data = tt.list
				}
				_ = json.NewEncoder(w).Encode(map[string]any{"success": true, "message": "", "data": json.RawMessage(data)})
			}))
			defer srv.Close()
			p := &Process{BaseURL: srv.URL, AdminToken: "admintoken", http: srv.Client()}
			err := p.Setup(context.Background(), "http://upstream", "m")
			if (err != nil) != tt.wantErr {
				t.Fatalf("Setup err = %v, wantErr %v", err, tt.wantErr)
			}
			if g, w := p.Key, tt.wantKey; !tt.wantErr && g != w {
				t.Errorf("key = %q, want %q", g, w)
			}
		})
	}
}

func TestAdminEnvelopeErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/channel/":
			_, _ = w.Write([]byte(`{"success":false,"message":"base_url invalid"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	p := &Process{BaseURL: srv.URL, AdminToken: "t", http: srv.Client()}
	if err := p.Setup(context.Background(), "x", "m"); err == nil || !strings.Contains(err.Error(), "base_url invalid") {
		t.Errorf("Setup = %v, want the envelope's message", err)
	}
	if _, err := p.ReadMetrics(context.Background()); !errors.Is(err, ErrNoMetrics) {
		t.Errorf("ReadMetrics on 404 = %v, want ErrNoMetrics", err)
	}
}

func TestWaitReadyNon200(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	p := &Process{BaseURL: srv.URL, http: srv.Client(), exited: make(chan struct{})}
	err := p.waitReady(context.Background(), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("waitReady = %v, want the 404 named", err)
	}
}
