package relay

import (
	"encoding/json"
	"net/http"
	"testing"

	"one-api/internal/testdb"
	"one-api/model"
	"one-api/relay/openai"
	"one-api/relay/tokenizer"
)

// TestQuotaExact checks the charge to the unit against one-api's formula,
// worked by hand: ceil((prompt + completion × CompletionRatio) × ModelRatio
// × GroupRatio).
func TestQuotaExact(t *testing.T) { testdb.Run(t, testQuotaExact) }

func testQuotaExact(t *testing.T, dialect string) {
	noUsage := func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Write([]byte(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"}}]}`))
	}
	msgs, _ := openai.ParseMessages(json.RawMessage(`[{"role":"user","content":"hi"}]`))
	localPrompt := tokenizer.CountMessages("gpt-3.5-turbo", msgs)
	localCompletion := tokenizer.CountText("gpt-3.5-turbo", "Hello there")
	for _, tc := range []struct {
		name               string
		model              string
		group              string
		options            map[string]string
		unlimited          bool
		answer             func(http.ResponseWriter, *http.Request, []byte)
		quota              int64
		prompt, completion int // logged token counts
	}{
		{name: "gpt-3.5-turbo", model: "gpt-3.5-turbo", answer: answerJSON(10, 20), quota: 18, prompt: 10, completion: 20},
		// gpt-4: 15 / 2 → (100 + 50×2) × 15.
		{name: "gpt-4", model: "gpt-4", answer: answerJSON(100, 50), quota: 3000, prompt: 100, completion: 50},
		// (10 + 60) × 0.25 × 1.5 = 26.25 → 27.
		{name: "group ratio", model: "gpt-3.5-turbo", group: "vip", options: map[string]string{"GroupRatio": `{"default":1,"vip":1.5}`},
			answer: answerJSON(10, 20), quota: 27, prompt: 10, completion: 20},
		{name: "ratio options", model: "my-model", options: map[string]string{"ModelRatio": `{"my-model":2}`, "CompletionRatio": `{"my-model":2}`},
			answer: answerJSON(7, 3), quota: 26, prompt: 7, completion: 3},
		// Unknown: ratio 30, completion ratio 1 → (1 + 1) × 30.
		{name: "unknown model", model: "mystery-model", answer: answerJSON(1, 1), quota: 60, prompt: 1, completion: 1},
		{name: "free model", model: "free", options: map[string]string{"ModelRatio": `{"free":0}`}, answer: answerJSON(100, 100), quota: 0, prompt: 100, completion: 100},
		// A tiny request still costs at least 1 unit: ceil(1 × 0.25) = 1.
		{name: "minimum 1", model: "gpt-3.5-turbo", answer: answerJSON(1, 0), quota: 1, prompt: 1},
		{name: "unlimited token", model: "gpt-3.5-turbo", unlimited: true, answer: answerJSON(10, 20), quota: 18, prompt: 10, completion: 20},
		{name: "no usage: counted locally", model: "gpt-3.5-turbo", answer: noUsage,
			quota: ceilQuota(localPrompt, localCompletion, 0.25, 3), prompt: localPrompt, completion: localCompletion},
		{name: "refund on failure", model: "gpt-3.5-turbo", answer: answerStatus(500, "server_error"), quota: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFake(t, tc.answer)
			ch := channel(model.ChannelOpenAI, "a", up.URL, tc.model)
			if tc.group != "" {
				ch.Group = tc.group
			}
			e := newEnv(t, envConfig{dialect: dialect, channels: []*model.Channel{ch}, group: tc.group, options: tc.options, unlimited: tc.unlimited})
			w := e.do("POST", "/v1/chat/completions", `{"model":"`+tc.model+`","messages":[{"role":"user","content":"hi"}]}`)
			failed := w.Code != http.StatusOK
			tokenCharged := tc.quota
			if tc.unlimited {
				tokenCharged = 0
			}
			want := balances{UserQuota: 1e9 - tc.quota, UserUsed: tc.quota, TokenRemain: 1e9 - tokenCharged, TokenUsed: tokenCharged,
				ChannelUsed: tc.quota, Requests: 1}
			if failed {
				want.Requests = 0
			}
			if b := e.balances(1); b != want {
				t.Errorf("balances = %+v, want %+v", b, want)
			}
			logs := e.logs()
			if failed {
				if len(logs) != 0 {
					t.Errorf("failed request logged: %+v", logs)
				}
				return
			}
			if len(logs) != 1 || int64(logs[0].Quota) != tc.quota || logs[0].PromptTokens != tc.prompt || logs[0].CompletionTokens != tc.completion {
				t.Errorf("logs = %+v, want one of %d units, %d + %d tokens", logs, tc.quota, tc.prompt, tc.completion)
			}
		})
	}
}

// TestOptionChangeReprices: a ratio set through the option store applies to
// the next request without a restart.
func TestOptionChangeReprices(t *testing.T) { testdb.Run(t, testOptionChangeReprices) }

func testOptionChangeReprices(t *testing.T, dialect string) {
	up := newFake(t, answerJSON(10, 0))
	e := newEnv(t, envConfig{dialect: dialect, channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "m")}})
	if err := e.options.Set(t.Context(), "ModelRatio", `{"m":3}`); err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/v1/chat/completions", `{"model":"m","messages":[]}`)
	if err := e.options.Set(t.Context(), "ModelRatio", `not json`); err == nil {
		t.Error("a ModelRatio that does not parse was accepted")
	}
	if logs := e.logs(); len(logs) != 1 || logs[0].Quota != 30 {
		t.Errorf("logs = %+v, want one of 10 × 3 = 30 units", logs)
	}
}

// TestLogConsumeDisabled: no consume log, but the charge stands.
func TestLogConsumeDisabled(t *testing.T) {
	up := newFake(t, answerJSON(10, 20))
	e := newEnv(t, envConfig{channels: []*model.Channel{channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo")},
		options: map[string]string{"LogConsumeEnabled": "false"}})
	e.do("POST", "/v1/chat/completions", `{"model":"gpt-3.5-turbo","messages":[]}`)
	if logs := e.logs(); len(logs) != 0 {
		t.Errorf("%d logs written with LogConsumeEnabled=false", len(logs))
	}
	if b := e.balances(1); b.UserUsed != 18 {
		t.Errorf("balances = %+v, want 18 charged", b)
	}
}
