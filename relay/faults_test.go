package relay_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"one-api/internal/hostile"
	"one-api/internal/logtest"
	"one-api/model"
	"one-api/relay"
)

// The fault suite (issue 12): a misbehaving upstream drives every fault
// through the real router and middleware, and each case checks what the
// client got, what was logged, and that the ledger balances afterwards.

const (
	faultUserQuota  = int64(1e9)
	faultTokenQuota = int64(1e8)
	faultKey        = "faultkeyabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
	channelSecret   = "sk-chan0123456789abcdefghijklmnopqrstuvwxyzABCD"
)

// faultStack is a gateway whose channels are hostile upstreams. Channel
// ids follow the order of ups; the first has the highest priority.
type faultStack struct {
	*stack
	logs   *logtest.Buffer
	userID int
	tokID  int
}

func newFaultStack(t *testing.T, p profile, tweak func(*relay.Config), ups ...*hostile.Server) *faultStack {
	t.Helper()
	logs := logtest.Capture(t)
	store := openStore(t, tempDB(t))
	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	user := &model.User{Username: "fault", Password: "x", Role: model.RoleCommon, Status: model.UserEnabled,
		Quota: faultUserQuota, Group: "default", AffCode: "fault", AccessToken: "faultaccesstoken"}
	if err := store.Gorm().Create(user).Error; err != nil {
		t.Fatal(err)
	}
	tok := &model.Token{UserID: user.ID, Key: faultKey, Status: model.TokenEnabled, Name: "fault",
		ExpiredTime: -1, RemainQuota: faultTokenQuota}
	if err := store.Gorm().Create(tok).Error; err != nil {
		t.Fatal(err)
	}
	var chs []*model.Channel
	for i, up := range ups {
		url, prio := up.URL, int64(len(ups)-i)
		chs = append(chs, &model.Channel{Type: model.ChannelOpenAI, Key: channelSecret, Status: model.ChannelEnabled,
			Name: "hostile", BaseURL: &url, Models: "gpt-3.5-turbo", Group: "default", Priority: &prio})
	}
	if err := store.CreateChannels(ctx, chs); err != nil {
		t.Fatal(err)
	}
	if err := store.Gorm().Create(&model.Option{Key: "RetryTimes", Value: "2"}).Error; err != nil {
		t.Fatal(err)
	}
	s := newStackWith(t, store, p, tweak)
	return &faultStack{stack: s, logs: logs, userID: user.ID, tokID: tok.ID}
}

// post sends body to the chat endpoint.
func (f *faultStack) post(body string) *httptest.ResponseRecorder {
	return f.chat(faultKey, body)
}

// checkLedger drains the batches and checks that every reservation was
// settled or released: remain + used is what the token and the user had,
// and the consume logs are one per billed request and add up to used.
func (f *faultStack) checkLedger(t *testing.T, billed int) {
	t.Helper()
	f.drain(t)
	var u model.User
	var tok model.Token
	if err := f.store.Gorm().First(&u, f.userID).Error; err != nil {
		t.Fatal(err)
	}
	if err := f.store.Gorm().First(&tok, f.tokID).Error; err != nil {
		t.Fatal(err)
	}
	if got := tok.RemainQuota + tok.UsedQuota; got != faultTokenQuota {
		t.Errorf("token remain %d + used %d = %d, want %d: a reservation was left behind", tok.RemainQuota, tok.UsedQuota, got, faultTokenQuota)
	}
	if got := u.Quota + u.UsedQuota; got != faultUserQuota {
		t.Errorf("user quota %d + used %d = %d, want %d", u.Quota, u.UsedQuota, got, faultUserQuota)
	}
	var logs []model.Log
	if err := f.store.LogGorm().Where("type = ?", model.LogConsume).Find(&logs).Error; err != nil {
		t.Fatal(err)
	}
	if len(logs) != billed {
		t.Errorf("%d consume logs, want %d", len(logs), billed)
	}
	var sum int64
	for _, l := range logs {
		if l.Quota < 0 {
			t.Errorf("consume log with negative quota %d", l.Quota)
		}
		sum += int64(l.Quota)
	}
	if sum != tok.UsedQuota {
		t.Errorf("consume logs add up to %d, token used %d", sum, tok.UsedQuota)
	}
	if billed > 0 && tok.UsedQuota <= 0 {
		t.Errorf("token used %d after %d billed requests", tok.UsedQuota, billed)
	}
}

// warnLines returns the [WARN] lines about failed upstream attempts.
func (f *faultStack) warnLines() []string {
	var out []string
	for _, l := range f.logs.Lines() {
		if strings.HasPrefix(l, "[WARN]") && strings.Contains(l, "upstream attempt failed") {
			out = append(out, l)
		}
	}
	return out
}

// leaks reports whether s contains the channel key or something shaped
// like a provider secret.
var secretShape = regexp.MustCompile(`sk-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{20,}`)

func leaks(s string) bool {
	return strings.Contains(s, channelSecret) || secretShape.MatchString(s)
}

type faultCase struct {
	name   string
	fault  string
	stream bool
	// force, when set, makes the first channel always fail this way and
	// adds a second, well-behaved channel: the retry must reach it.
	force      string
	tweak      func(*relay.Config)
	wantStatus int
	wantBody   []string // substrings of the client's body
	wantEnd    string   // a stream's last data event: "[DONE]" or an error code
	billed     int      // consume logs
	warns      int      // [WARN] upstream attempt failed lines
}

func faultCases() []faultCase {
	small := func(c *relay.Config) { c.UpstreamMaxBodyBytes = 64 << 10 }
	stall := func(c *relay.Config) { c.StreamingTimeout = 300 * time.Millisecond }
	return []faultCase{
		{name: "ok", fault: "ok", wantStatus: 200, wantBody: []string{`"Hello there"`}, billed: 1},
		{name: "ok stream", fault: "ok", stream: true, wantStatus: 200, wantEnd: "[DONE]", billed: 1},
		{name: "no usage", fault: "no-usage", wantStatus: 200, wantBody: []string{`"Hello there"`}, billed: 1},
		{name: "no usage stream", fault: "no-usage", stream: true, wantStatus: 200, wantEnd: "[DONE]", billed: 1},
		// Defect 1: one 1 MiB word and no usage is counted in bounded time.
		{name: "giant line no usage", fault: "giant", stream: true, wantStatus: 200, wantEnd: "[DONE]", billed: 1},
		{name: "status 500 retried then passed on", fault: "status:500", wantStatus: 500, wantBody: []string{"upstream says 500"}, warns: 3},
		{name: "status 400 not retried", fault: "status:400", wantStatus: 400, wantBody: []string{"upstream says 400"}, warns: 1},
		{name: "status 500 retried to a good channel", force: "status:500", fault: "ok", wantStatus: 200, wantBody: []string{`"Hello there"`}, billed: 1, warns: 1},
		// Defect 4: the channel's key never reaches the client.
		{name: "key in upstream message", fault: "key-leak", wantStatus: 401, wantBody: []string{"Incorrect API key provided: [redacted]"}, warns: 1},
		{name: "key in a stream error event", fault: "error-event", stream: true, wantStatus: 200, wantBody: []string{"quota of key [redacted] exceeded"}, wantEnd: "[DONE]", billed: 1},
		// Defect 5: a body over the cap is a 502 and costs nothing.
		{name: "huge body", fault: "huge:1048576", tweak: small, wantStatus: 502, wantBody: []string{"upstream_response_too_large"}, warns: 1},
		// Defect 6: a 200 that is not JSON is an upstream failure.
		{name: "html 200", fault: "html", wantStatus: 502, wantBody: []string{"bad_response_body"}, warns: 3},
		{name: "html 200 retried to a good channel", force: "html", fault: "ok", wantStatus: 200, wantBody: []string{`"Hello there"`}, billed: 1, warns: 1},
		{name: "reset", fault: "reset", wantStatus: 502, wantBody: []string{"upstream_unreachable"}, warns: 3},
		{name: "reset stream", fault: "reset", stream: true, wantStatus: 502, wantBody: []string{"upstream_unreachable"}, warns: 3},
		// Decision: the status line waits for upstream's first event, so
		// a stream cut right after its headers is retried.
		{name: "stream cut after headers", fault: "cut-headers", stream: true, wantStatus: 502, wantBody: []string{"upstream_stream_failed"}, warns: 3},
		{name: "stream cut after headers retried", force: "cut-headers", fault: "ok", stream: true, wantStatus: 200, wantEnd: "[DONE]", billed: 1, warns: 1},
		{name: "stream cut mid-way", fault: "cut-mid", stream: true, wantStatus: 200, wantEnd: "stream_interrupted", billed: 1, warns: 1},
		// Decision: STREAMING_TIMEOUT ends a silent stream, output billed.
		{name: "stream stalls", fault: "stall", stream: true, tweak: stall, wantStatus: 200, wantEnd: "stream_timeout", billed: 1, warns: 1},
		{name: "stream slow but alive", fault: "slow:5", stream: true, tweak: stall, wantStatus: 200, wantEnd: "[DONE]", billed: 1},
		// Decision: malformed lines are dropped by the reader, data events
		// pass as they are; a negative usage is not believed.
		{name: "malformed stream", fault: "malformed", stream: true, wantStatus: 200, wantBody: []string{`{"half": `}, wantEnd: "[DONE]", billed: 1},
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range faultCases() {
		for _, p := range []struct {
			name string
			p    profile
		}{{"direct", allOff}, {"batched", allOn}} {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				up := hostile.New(t)
				ups := []*hostile.Server{up}
				if tc.force != "" {
					up.Force = tc.force
					ups = append(ups, hostile.New(t))
				}
				f := newFaultStack(t, p.p, tc.tweak, ups...)
				w := f.post(hostile.Body(tc.fault, tc.stream))
				body := w.Body.String()
				if w.Code != tc.wantStatus {
					t.Fatalf("status = %d, want %d; body %.300s", w.Code, tc.wantStatus, body)
				}
				for _, s := range tc.wantBody {
					if !strings.Contains(body, s) {
						t.Errorf("body lacks %q: %.400s", s, body)
					}
				}
				if leaks(body) {
					t.Errorf("body leaks a secret: %.400s", body)
				}
				if w.Code != http.StatusOK {
					ct := w.Header().Get("Content-Type")
					if !strings.HasPrefix(ct, "application/json") || !strings.Contains(body, `"error":{`) {
						t.Errorf("error answer is %s %.200s, want an OpenAI error object", ct, body)
					}
				}
				if tc.wantEnd != "" {
					data := dataEvents(body)
					if len(data) == 0 {
						t.Fatalf("no events in %.300s", body)
					}
					last := data[len(data)-1]
					if !strings.Contains(last, tc.wantEnd) {
						t.Errorf("last event = %.200s, want %s", last, tc.wantEnd)
					}
				}
				f.checkLedger(t, tc.billed)
				warns := f.warnLines()
				if len(warns) != tc.warns {
					t.Errorf("%d upstream-attempt warnings, want %d: %q", len(warns), tc.warns, warns)
				}
				for _, l := range warns {
					if !strings.Contains(l, "channel #") || !strings.Contains(l, "request id: ") || strings.Contains(l, "upstream says") {
						t.Errorf("warning %q: want channel id and request id, never the body", l)
					}
				}
				for _, l := range f.logs.Lines() {
					if leaks(l) {
						t.Errorf("log line leaks a secret: %s", l)
					}
				}
			})
		}
	}
}

func dataEvents(body string) []string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

// TestUnknownModel: a model no channel lists is OpenAI's 404
// model_not_found (the SDKs do not retry it); a model whose channels are
// all disabled stays one-api's 503, which they retry.
func TestUnknownModel(t *testing.T) {
	f := newFaultStack(t, allOff, nil, hostile.New(t))
	w := f.post(`{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}`)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"code":"model_not_found"`) ||
		!strings.Contains(w.Body.String(), `"type":"invalid_request_error"`) {
		t.Errorf("unknown model: %d %s, want 404 model_not_found", w.Code, w.Body)
	}
	if err := f.store.Gorm().Model(&model.Channel{}).Where("id = ?", 1).Update("status", model.ChannelManuallyDisabled).Error; err != nil {
		t.Fatal(err)
	}
	if err := f.relay.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	w = f.post(hostile.Body("ok", false))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"code":"model_not_available"`) {
		t.Errorf("model of a disabled channel: %d %s, want 503 model_not_available", w.Code, w.Body)
	}
	f.checkLedger(t, 0)
}

// TestEndInFlight (issue 12, defect 2, in process): a stream running when
// EndInFlight is called ends with a server_shutting_down event and is
// billed for what it delivered; a request arriving afterwards gets a 503.
func TestEndInFlight(t *testing.T) {
	for _, p := range []struct {
		name string
		p    profile
	}{{"direct", allOff}, {"batched", allOn}} {
		t.Run(p.name, func(t *testing.T) {
			// STREAMING_TIMEOUT's default is on, as in production.
			f := newFaultStack(t, p.p, func(c *relay.Config) { c.StreamingTimeout = 2 * time.Minute }, hostile.New(t))
			srv := httptest.NewServer(f.engine)
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(hostile.Body("slow:100", true)))
			req.Header.Set("Authorization", "Bearer sk-"+faultKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var data []string
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					data = append(data, d)
					if len(data) == 2 {
						f.relay.EndInFlight()
					}
				}
			}
			if len(data) < 3 || !strings.Contains(data[len(data)-1], `"code":"server_shutting_down"`) {
				t.Errorf("events %q, want the last a server_shutting_down error", data)
			}
			w := f.post(hostile.Body("ok", false))
			if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "server_shutting_down") {
				t.Errorf("after EndInFlight: %d %s, want 503 server_shutting_down", w.Code, w.Body)
			}
			f.checkLedger(t, 1)
		})
	}
}

// TestProbeRedactsKey (issue 12, defect 4): the channel test's answer, shown
// to the admin and stored nowhere else, never quotes the channel's key.
func TestProbeRedactsKey(t *testing.T) {
	up := hostile.New(t)
	up.Force = "key-leak"
	f := newFaultStack(t, allOff, nil, up)
	var row model.Channel
	if err := f.store.Gorm().First(&row, 1).Error; err != nil {
		t.Fatal(err)
	}
	_, err := f.relay.Probe(context.Background(), &row, "")
	if err == nil {
		t.Fatal("probe of a channel answering 401 succeeded")
	}
	if leaks(err.Error()) || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("probe error %q, want the key redacted", err)
	}
}
