package relay

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"one-api/metrics"
	"one-api/middleware"
	"one-api/model"
)

// TestRequestInfo: the relay tells the metrics middleware what it learned.
func TestRequestInfo(t *testing.T) {
	up := newFake(t, answerStream(10, 20))
	bad := newFake(t, answerStatus(502, "bad_gateway"))
	e := newEnv(t, envConfig{channels: []*model.Channel{
		channel(model.ChannelOpenAI, "a", up.URL, "gpt-3.5-turbo"),
		channel(model.ChannelOpenAI, "b", bad.URL, "broken"),
	}})
	var info *metrics.RequestInfo
	eng := infoEngine(e, &info)
	send := func(body string) int {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.key)
		w := httptest.NewRecorder()
		eng.ServeHTTP(w, req)
		return w.Code
	}

	if code := send(`{"model":"gpt-3.5-turbo","stream":true,"messages":[]}`); code != 200 {
		t.Fatalf("status %d", code)
	}
	if info.Model != "gpt-3.5-turbo" || info.ChannelID != 1 || !info.Stream || info.TTFT <= 0 || info.Upstream <= 0 ||
		info.PromptTokens != 10 || info.CompletionTokens != 20 || info.Quota != 18 || info.RelayError {
		t.Errorf("stream info = %+v", *info)
	}
	if code := send(`{"model":"broken","messages":[]}`); code != http.StatusBadGateway {
		t.Fatalf("status %d", code)
	}
	if info.Model != "broken" || info.ChannelID != 2 || info.Stream || !info.RelayError || info.Quota != 0 {
		t.Errorf("failed request info = %+v", *info)
	}
}

// infoEngine serves the env's relay routes with a fresh RequestInfo in each
// request's context, stored in *info for the test to read.
func infoEngine(e *env, info **metrics.RequestInfo) *gin.Engine {
	eng := gin.New()
	eng.Use(testRequestID(), func(c *gin.Context) {
		*info = &metrics.RequestInfo{}
		c.Request = c.Request.WithContext(metrics.WithRequestInfo(c.Request.Context(), *info))
		c.Next()
	})
	for _, rt := range e.relay.Routes() {
		eng.Handle(rt.Method, rt.Path, middleware.TokenAuth(e.relay.TokenAuthConfig()), rt.Handler)
	}
	return eng
}

// TestTokenizerPreparedOnlyOnceNeeded: streams whose upstream reports usage
// never start the tokenizer's load (issue 19: it held back the first chunk
// of every stream during it); once a stream needed a local count, later
// streams prepare it at their start.
func TestTokenizerPreparedOnlyOnceNeeded(t *testing.T) {
	withUsage := newFake(t, answerStream(10, 20))
	noUsage := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		answerStream(10, 20)(w, r, nil) // never sees include_usage: no usage chunk
	})
	e := newEnv(t, envConfig{channels: []*model.Channel{
		channel(model.ChannelOpenAI, "a", withUsage.URL, "gpt-3.5-turbo"),
		channel(model.ChannelOpenAI, "b", noUsage.URL, "gpt-4"),
	}})
	for range 3 {
		if w := e.do("POST", "/v1/chat/completions", `{"model":"gpt-3.5-turbo","stream":true,"messages":[]}`); w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	if e.relay.counted.Load() {
		t.Fatal("streams with upstream usage marked the relay as needing local counts")
	}
	if w := e.do("POST", "/v1/chat/completions", `{"model":"gpt-4","stream":true,"messages":[]}`); w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if !e.relay.counted.Load() {
		t.Error("a stream without upstream usage did not mark the relay as needing local counts")
	}
}
