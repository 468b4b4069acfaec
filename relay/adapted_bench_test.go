package relay

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"one-api/model"
)

// benchAdapted is benchRelay on a channel of type typ: the difference to
// BenchmarkRelayNonStream/Stream is the conversion's cost per request.
func benchAdapted(b *testing.B, typ int, name, body string, answer func(http.ResponseWriter, *http.Request, []byte)) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		answer(w, r, body)
	}))
	b.Cleanup(up.Close)
	ledger := &countingLedger{}
	tokens := staticTokens{auth: model.TokenAuth{TokenID: 1, Name: "t", Status: model.TokenEnabled, ExpiredTime: -1,
		RemainQuota: 1e12, UserID: 1, Username: "alice", UserStatus: model.UserEnabled, Role: 1, Group: "default", UserQuota: 1e12}}
	e := newEnv(b, envConfig{channels: []*model.Channel{channel(typ, "a", up.URL, name)}, ledger: ledger, logs: model.DiscardLogSink{}, tokens: tokens})
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

func BenchmarkRelayAdapted(b *testing.B) {
	for _, pc := range protocolCases[1:] {
		chat := `{"model":"` + pc.model + `","messages":[{"role":"user","content":"Say hello to the benchmark."}]}`
		stream := `{"model":"` + pc.model + `","stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}`
		b.Run(pc.name+"/non-stream", func(b *testing.B) { benchAdapted(b, pc.typ, pc.model, chat, pc.fake) })
		b.Run(pc.name+"/stream", func(b *testing.B) { benchAdapted(b, pc.typ, pc.model, stream, pc.fake) })
	}
}
