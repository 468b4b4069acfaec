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
