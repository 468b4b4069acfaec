package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ErrNoMetrics means the gateway does not serve /api/metrics/ (metrics off,
// or a gateway without the patch set).
var ErrNoMetrics = errors.New("gateway metrics not available")

// envelope is the admin API's answer shape.
type envelope struct {
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// admin calls the admin API with the root access token and decodes the
// envelope; a false success is an error carrying the message.
func (p *Process) admin(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.BaseURL+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+p.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read: %w", method, path, err)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("%s %s: status %d, not an envelope: %.200s", method, path, resp.StatusCode, raw)
	}
	if !env.Success {
		return nil, fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, env.Message)
	}
	return env.Data, nil
}

// Setup creates one channel of type 1 (OpenAI) at upstream serving model to
// the default group, and an unlimited token; it sets p.Key.
func (p *Process) Setup(ctx context.Context, upstream, model string) error {
	channel := map[string]any{
		"type": 1, "name": "mock", "key": "sk-mock", "base_url": upstream,
		"models": model, "group": "default",
	}
	if _, err := p.admin(ctx, http.MethodPost, "/api/channel/", channel); err != nil {
		return fmt.Errorf("create channel: %w", err)
	}
	token := map[string]any{"name": "bench", "remain_quota": 0, "unlimited_quota": true, "expired_time": -1}
	data, err := p.admin(ctx, http.MethodPost, "/api/token/", token)
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	key := tokenKey(data)
	if key == "" {
		// one-api v0.6 answers the create without data; the key is in the list.
		if key, err = p.findTokenKey(ctx, "bench"); err != nil {
			return err
		}
	}
	p.Key = "sk-" + strings.TrimPrefix(key, "sk-")
	return nil
}

type tokenRow struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

func tokenKey(data json.RawMessage) string {
	var t tokenRow
	if len(data) == 0 || json.Unmarshal(data, &t) != nil {
		return ""
	}
	return t.Key
}

func (p *Process) findTokenKey(ctx context.Context, name string) (string, error) {
	data, err := p.admin(ctx, http.MethodGet, "/api/token/?p=0", nil)
	if err != nil {
		return "", fmt.Errorf("list tokens: %w", err)
	}
	var rows []tokenRow
	if err := json.Unmarshal(data, &rows); err != nil {
		// A paged shape: {"items": [...]} or {"data": [...]}.
		var paged struct {
			Items []tokenRow `json:"items"`
			Data  []tokenRow `json:"data"`
		}
		if err := json.Unmarshal(data, &paged); err != nil {
			return "", fmt.Errorf("list tokens: unknown shape %.200s", data)
		}
		rows = append(paged.Items, paged.Data...)
	}
	for _, r := range rows {
		if r.Name == name && r.Key != "" {
			return r.Key, nil
		}
	}
	return "", fmt.Errorf("list tokens: no token named %q with a key", name)
}

// Probe sends one chat completion until it succeeds, since a channel can take
// a moment to become visible to the relay.
func (p *Process) Probe(ctx context.Context, body []byte, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		status, msg, err := p.try(ctx, body)
		if err == nil && status == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("probe relay: %w", err)
			}
			return fmt.Errorf("probe relay: status %d: %.300s", status, msg)
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("probe relay: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func (p *Process) try(ctx context.Context, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.BaseURL+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Metrics is the part of GET /api/metrics/ the benchmark reads.
type Metrics struct {
	TotalRequests int64 `json:"total_requests"`
	DBQueryCount  int64 `json:"db_query_count"`
}

// ResetMetrics restarts the gateway's metrics window.
func (p *Process) ResetMetrics(ctx context.Context) error {
	if _, err := p.admin(ctx, http.MethodPost, "/api/metrics/reset", nil); err != nil {
		return fmt.Errorf("%w: %w", ErrNoMetrics, err)
	}
	return nil
}

// ReadMetrics reads the current window.
func (p *Process) ReadMetrics(ctx context.Context) (Metrics, error) {
	var m Metrics
	data, err := p.admin(ctx, http.MethodGet, "/api/metrics/", nil)
	if err != nil {
		return m, fmt.Errorf("%w: %w", ErrNoMetrics, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%w: decode: %w", ErrNoMetrics, err)
	}
	return m, nil
}
