package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"one-api/model"
	"one-api/relay/adaptor"
	"one-api/relay/openai"
)

// probeModel is what one-api tested a channel with when it lists no model.
const probeModel = "gpt-3.5-turbo"

// Probe sends a one-token chat request to the channel in row (whatever its
// status: an admin may test a disabled channel before enabling it) through
// the shared upstream client, and returns how long the answer took. name
// is the model to ask for; "" means the channel's first model. The model
// mapping applies as for relayed requests.
func (r *Relay) Probe(ctx context.Context, row *model.Channel, name string) (time.Duration, error) {
	ch, err := newChannel(row)
	if err != nil {
		return 0, fmt.Errorf("channel #%d: %w", row.ID, err)
	}
	if name == "" {
		name = probeModel
		if len(ch.Models) > 0 {
			name = ch.Models[0]
		}
	}
	upModel := ch.upstreamModel(name)
	body := []byte(`{"model":` + strconv.Quote(upModel) + `,"messages":[{"role":"user","content":"hi"}],"max_tokens":1}`)
	var req *http.Request
	if ch.adaptor != nil {
		req, err = newAdaptedProbe(ctx, ch, upModel, body)
	} else {
		req, err = newUpstreamRequest(ctx, ch, "/v1/chat/completions", "", "", upModel, body, "application/json", false)
	}
	if err != nil {
		return 0, fmt.Errorf("channel #%d: %w", row.ID, err)
	}
	start := time.Now()
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return time.Since(start), fmt.Errorf("request failed: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	elapsed := time.Since(start)
	if err != nil {
		return elapsed, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK && ch.adaptor != nil {
		status, e := ch.adaptor.ConvertError(resp.StatusCode, answer)
		return elapsed, fmt.Errorf("upstream status %d: %s", status, e.Message)
	}
	if ch.adaptor != nil {
		if answer, _, _, err = ch.adaptor.ConvertResponse(&adaptor.State{Path: "/v1/chat/completions", Model: name}, answer); err != nil {
			return elapsed, fmt.Errorf("upstream answered 200 without a chat completion: %w", err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		if e, ok := openai.ParseErrorResponse(answer); ok {
			return elapsed, fmt.Errorf("upstream status %d: %s", resp.StatusCode, redact(e.Message, ch.Key))
		}
		return elapsed, fmt.Errorf("upstream status %d", resp.StatusCode)
	}
	var completion struct {
		Choices []json.RawMessage `json:"choices"`
	}
	if err := json.Unmarshal(answer, &completion); err != nil || len(completion.Choices) == 0 {
		return elapsed, errors.New("upstream answered 200 without a chat completion")
	}
	return elapsed, nil
}

// newAdaptedProbe is the probe's request to a channel of another protocol,
// converted like a relayed one.
func newAdaptedProbe(ctx context.Context, ch *Channel, upModel string, body []byte) (*http.Request, error) {
	up, err := ch.adaptor.ConvertRequest(adaptor.Request{Path: "/v1/chat/completions", Model: upModel, Body: body})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.BaseURL+up.Path, bytes.NewReader(up.Body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	name, value := ch.authHeader.Header(ch.Key)
	req.Header.Set(name, value)
	for k, vv := range up.Header {
		req.Header[k] = vv
	}
	return req, nil
}
