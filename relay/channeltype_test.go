package relay

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"one-api/common"
	"one-api/model"
	"one-api/relay/channeltype"
)

// redirect sends every request to the fake upstream, recording the URL it
// was meant for, so a channel with an empty base_url can be checked against
// its type's real default.
type redirect struct {
	to   *url.URL
	mu   sync.Mutex
	urls []string
}

func (r *redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.String())
	r.mu.Unlock()
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = r.to.Scheme, r.to.Host, ""
	return http.DefaultTransport.RoundTrip(out)
}

// TestVendorDefaults checks, for every OpenAI-protocol row of the type
// table, the URL and the auth header a chat request gets when the
// channel's base_url is empty. The wanted URLs are written out from the
// vendors' API references, not derived from the table.
func TestVendorDefaults(t *testing.T) {
	want := map[int]string{
		1: "https://api.openai.com/v1/chat/completions", 2: "https://oa.api2d.net/v1/chat/completions",
		4: "https://api.closeai-proxy.xyz/v1/chat/completions", 5: "https://api.openai-sb.com/v1/chat/completions",
		6: "https://api.openaimax.com/v1/chat/completions", 7: "https://api.ohmygpt.com/v1/chat/completions",
		9: "https://api.caipacity.com/v1/chat/completions", 10: "https://api.aiproxy.io/v1/chat/completions",
		12: "https://api.api2gpt.com/v1/chat/completions", 13: "https://api.aigc2d.com/v1/chat/completions",
		16: "https://open.bigmodel.cn/api/paas/v4/chat/completions",
		17: "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions",
		19: "https://ai.360.cn/v1/chat/completions", 20: "https://openrouter.ai/api/v1/chat/completions",
		22: "https://fastgpt.run/api/openapi/v1/chat/completions", 25: "https://api.moonshot.cn/v1/chat/completions",
		26: "https://api.baichuan-ai.com/v1/chat/completions", 28: "https://api.mistral.ai/v1/chat/completions",
		29: "https://api.groq.com/openai/v1/chat/completions", 30: "http://localhost:11434/v1/chat/completions",
		31: "https://api.lingyiwanwu.com/v1/chat/completions", 32: "https://api.stepfun.com/v1/chat/completions",
		36: "https://api.deepseek.com/v1/chat/completions", 39: "https://api.together.xyz/v1/chat/completions",
		40: "https://ark.cn-beijing.volces.com/api/v3/chat/completions", 41: "https://api.novita.ai/v3/openai/chat/completions",
		44: "https://api.siliconflow.cn/v1/chat/completions", 45: "https://api.x.ai/v1/chat/completions",
		47: "https://qianfan.baidubce.com/v2/chat/completions", 48: "https://spark-api-open.xf-yun.com/v1/chat/completions",
		49: "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions", 50: "https://api.openai.com/v1/chat/completions",
		51: "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
	}
	rows := 0
	for _, info := range channeltype.All() {
		if info.Protocol != channeltype.OpenAI || info.BaseURL == "" {
			continue
		}
		rows++
		t.Run(info.Name, func(t *testing.T) {
			wantURL, ok := want[info.Type]
			if !ok {
				t.Fatalf("type %d (%s) has no expected URL in this test", info.Type, info.Name)
			}
			up := newFake(t, answerJSON(10, 20))
			u, _ := url.Parse(up.URL)
			rt := &redirect{to: u}
			ch := channel(info.Type, "v", "", "gpt-3.5-turbo")
			e := newEnv(t, envConfig{channels: []*model.Channel{ch}, client: &http.Client{Transport: rt}})
			body := `{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"hi"}]}`
			w := e.do("POST", "/v1/chat/completions", body)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if len(rt.urls) != 1 || rt.urls[0] != wantURL {
				t.Errorf("upstream URL = %v, want %s", rt.urls, wantURL)
			}
			got := up.last(t)
			if g := got.Header.Get("Authorization"); g != "Bearer ck-v" {
				t.Errorf("Authorization = %q, want the channel key as bearer", g)
			}
			if got.Body != body {
				t.Errorf("body = %s, want the client's bytes", got.Body)
			}
		})
	}
	if rows != len(want) {
		t.Errorf("%d OpenAI-protocol rows with a default, %d expected URLs", rows, len(want))
	}
	// A base_url set by the operator keeps the type's path prefix.
	up := newFake(t, answerJSON(1, 1))
	e := newEnv(t, envConfig{channels: []*model.Channel{channel(40, "doubao", up.URL+"/", "ep-1")}})
	if w := e.do("POST", "/v1/chat/completions", `{"model":"ep-1","messages":[]}`); w.Code != 200 || up.last(t).Path != "/api/v3/chat/completions" {
		t.Errorf("Doubao with base_url: status %d, path %q", w.Code, up.last(t).Path)
	}
}

// TestUnsupportedTypes: a one-api database holding channels of types the
// gateway cannot speak starts, warns once per such channel, never sends
// them a request, and serves the rest; the channel test says why.
func TestUnsupportedTypes(t *testing.T) {
	var logBuf bytes.Buffer
	var mu sync.Mutex
	baidu := newFake(t, answerJSON(1, 1))
	openaiUp := newFake(t, answerJSON(10, 20))
	chs := []*model.Channel{
		channel(15, "ernie", baidu.URL, "gpt-3.5-turbo"),
		channel(33, "bedrock", baidu.URL, "gpt-3.5-turbo"),
		channel(99, "future", baidu.URL, "gpt-3.5-turbo"),
		channel(model.ChannelOpenAI, "good", openaiUp.URL, "gpt-3.5-turbo"),
	}
	for _, ch := range chs[:3] {
		p := int64(10) // preferred if it were routable
		ch.Priority = &p
	}
	e := newEnv(t, envConfig{channels: chs, role: model.RoleAdmin})
	restore := common.SetLogOutput(lockedWriter{&mu, &logBuf})
	warnUnsupported(e.relay.Table()) // what New logs at start
	restore()
	common.SetLogOutput(io.Discard)
	mu.Lock()
	logs := logBuf.String()
	mu.Unlock()
	for _, want := range []string{`channel #1 "ernie" (type 15, Baidu)`, `channel #2 "bedrock" (type 33, AwsClaude)`, `channel #3 "future" (type 99, type 99)`} {
		if !strings.Contains(logs, "[WARN]") || !strings.Contains(logs, want) || !strings.Contains(logs, "not supported by this gateway") {
			t.Errorf("start log lacks %s:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, "[WARN]"); n != 3 {
		t.Errorf("%d warnings, want one per unsupported channel:\n%s", n, logs)
	}
	for range 5 {
		if w := e.do("POST", "/v1/chat/completions", `{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"hi"}]}`); w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	if n := baidu.hits.Load(); n != 0 {
		t.Errorf("unsupported channels got %d requests", n)
	}
	var row model.Channel
	if err := e.store.Gorm().First(&row, 1).Error; err != nil {
		t.Fatal(err)
	}
	_, err := e.relay.Probe(context.Background(), &row, "")
	if err == nil || !strings.Contains(err.Error(), "not supported by this gateway") {
		t.Errorf("probe error = %v, want not supported", err)
	}
	// A forced channel names the reason too rather than calling upstream.
	w := e.do("POST", "/v1/chat/completions", `{"model":"gpt-3.5-turbo","messages":[]}`, "Authorization", "Bearer "+e.key+"-1")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "not supported by this gateway") || baidu.hits.Load() != 0 {
		t.Errorf("forced unsupported channel: %d %s, upstream hits %d", w.Code, w.Body, baidu.hits.Load())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
