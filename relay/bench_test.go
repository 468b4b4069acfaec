package relay

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"one-api/model"
)

// staticTokens answers every lookup from memory, as the token cache does
// on a hit.
type staticTokens struct{ auth model.TokenAuth }

func (s staticTokens) GetTokenAuth(context.Context, string) (*model.TokenAuth, error) {
	a := s.auth
	return &a, nil
}

// countingLedger moves no quota: the benchmarks measure the relay, not the
// database (bench/ measures the whole gateway).
type countingLedger struct{ settled atomic.Int64 }

func (*countingLedger) Reserve(context.Context, model.Reservation) error { return nil }
func (l *countingLedger) Settle(_ context.Context, s model.Settlement) error {
	l.settled.Add(s.Quota)
	return nil
}
func (*countingLedger) Release(context.Context, model.Reservation) error { return nil }

func benchEnv(b *testing.B, answer func(http.ResponseWriter, *http.Request, []byte)) (*env, *countingLedger) {
	// A bare upstream: the recording fake would add its own allocations.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		answer(w, r, body)
	}))
	b.Cleanup(up.Close)
	ledger := &countingLedger{}
	tokens := staticTokens{auth: model.TokenAuth{TokenID: 1, Name: "t", Status: model.TokenEnabled, ExpiredTime: -1,
		RemainQuota: 1e12, UserID: 1, Username: "alice", UserStatus: model.UserEnabled, Role: 1, Group: "default", UserQuota: 1e12}}
	e := newEnv(b, envConfig{channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo")},
		ledger: ledger, logs: model.DiscardLogSink{}, tokens: tokens})
	return e, ledger
}

func benchRelay(b *testing.B, body string, answer func(http.ResponseWriter, *http.Request, []byte)) {
	e, ledger := benchEnv(b, answer)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.key)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		e.engine.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	if ledger.settled.Load() == 0 {
		b.Fatal("nothing billed")
	}
}

func BenchmarkRelayNonStream(b *testing.B) {
	benchRelay(b, `{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"Say hello to the benchmark."}]}`, answerJSON(10, 20))
}

func BenchmarkRelayStream(b *testing.B) {
	benchRelay(b, `{"model":"gpt-3.5-turbo","stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}`, answerStream(10, 20))
}
