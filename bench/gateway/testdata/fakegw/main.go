// Command fakegw is a stand-in for the gateway that implements just the
// contract the benchmark relies on (status, channel and token creation,
// metrics, relay, consume logs in SQLite, SIGTERM), so the harness can be
// tested without the real gateway. With FAKEGW_DROP_LOGS=n it "forgets" the
// last n consume logs, to show that the lost-log count works.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

type logRow struct {
	ID    int `gorm:"primaryKey"`
	Type  int
	Quota int64
}

func (logRow) TableName() string { return "logs" }

type userRow struct {
	ID           int `gorm:"primaryKey"`
	UsedQuota    int64
	RequestCount int64
}

func (userRow) TableName() string { return "users" }

type fake struct {
	db       *gorm.DB
	mu       sync.Mutex // SQLite has one writer
	admin    string
	metrics  bool
	upstream atomic.Value // string
	key      atomic.Value // string
	stmts    atomic.Int64
	dropLast int
	client   *http.Client
}

func main() {
	db, err := gorm.Open(sqlite.Open(os.Getenv("SQLITE_PATH")), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open db:", err)
		os.Exit(1)
	}
	if err := db.AutoMigrate(&logRow{}, &userRow{}); err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
		os.Exit(1)
	}
	db.Create(&userRow{ID: 1})
	drop, _ := strconv.Atoi(os.Getenv("FAKEGW_DROP_LOGS"))
	f := &fake{db: db, admin: os.Getenv("INITIAL_ROOT_ACCESS_TOKEN"), metrics: os.Getenv("METRICS_ENABLED") != "false", dropLast: drop, client: &http.Client{}}
	f.upstream.Store("")
	f.key.Store("")

	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: f}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Println("fakegw listening on", srv.Addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
	if f.dropLast > 0 {
		f.db.Exec("DELETE FROM logs WHERE id IN (SELECT id FROM logs ORDER BY id DESC LIMIT ?)", f.dropLast)
	}
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/api/status":
		envelope(w, true, "", map[string]any{"version": "fake"})
	case strings.HasPrefix(path, "/api/"):
		if r.Header.Get("Authorization") != "Bearer "+f.admin {
			w.WriteHeader(http.StatusUnauthorized)
			envelope(w, false, "unauthorized", nil)
			return
		}
		f.serveAdmin(w, r, path)
	case path == "/v1/chat/completions":
		f.relay(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fake) serveAdmin(w http.ResponseWriter, r *http.Request, path string) {
	switch {
	case path == "/api/channel" && r.Method == http.MethodPost:
		var ch struct {
			BaseURL string `json:"base_url"`
		}
		if err := json.NewDecoder(r.Body).Decode(&ch); err != nil || ch.BaseURL == "" {
			envelope(w, false, "bad channel", nil)
			return
		}
		f.upstream.Store(ch.BaseURL)
		envelope(w, true, "", nil)
	case path == "/api/token" && r.Method == http.MethodPost:
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		key := hex.EncodeToString(b)
		f.key.Store(key)
		envelope(w, true, "", map[string]any{"name": "bench", "key": key})
	case path == "/api/metrics" && f.metrics:
		envelope(w, true, "", map[string]any{"total_requests": 0, "db_query_count": f.stmts.Load()})
	case path == "/api/metrics/reset" && f.metrics:
		f.stmts.Store(0)
		envelope(w, true, "", nil)
	default:
		w.WriteHeader(http.StatusNotFound)
		envelope(w, false, "not found", nil)
	}
}

func (f *fake) relay(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer sk-"+f.key.Load().(string) {
		http.Error(w, `{"error":{"message":"bad key"}}`, http.StatusUnauthorized)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, f.upstream.Load().(string)+"/v1/chat/completions", r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 32<<10)
	rc := http.NewResponseController(w)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n])
			_ = rc.Flush()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return
		}
	}
	if resp.StatusCode == http.StatusOK {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.db.Create(&logRow{Type: 2, Quota: 7})
		f.db.Exec("UPDATE users SET used_quota = used_quota + 7, request_count = request_count + 1 WHERE id = 1")
		f.stmts.Add(2)
	}
}

func envelope(w http.ResponseWriter, ok bool, msg string, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"success": ok, "message": msg, "data": data})
}
