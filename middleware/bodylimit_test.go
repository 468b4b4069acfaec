package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestBodyLimit(t *testing.T) {
	const limit = 64
	var handled bool
	read := func(c *gin.Context) {
		handled = true
		if _, err := io.ReadAll(c.Request.Body); err != nil {
			if !BodyTooLarge(c, err) {
				c.String(http.StatusBadRequest, "other error")
			}
			return
		}
		c.String(http.StatusOK, "read")
	}
	e := gin.New()
	e.Use(BodyLimit(limit))
	e.POST("/api/x", read)
	e.POST("/v1/embeddings", read)

	tests := []struct {
		name        string
		path        string
		body        io.Reader
		wantStatus  int
		wantHandled bool
	}{
		{"small", "/api/x", strings.NewReader("ok"), http.StatusOK, true},
		{"exactly the limit", "/api/x", strings.NewReader(strings.Repeat("a", limit)), http.StatusOK, true},
		{"declared too large: refused before the handler", "/api/x", strings.NewReader(strings.Repeat("a", limit+1)), http.StatusRequestEntityTooLarge, false},
		{"streamed too large: refused while reading", "/api/x", io.MultiReader(strings.NewReader(strings.Repeat("a", 3*limit))), http.StatusRequestEntityTooLarge, true},
		{"relay path", "/v1/embeddings", strings.NewReader(strings.Repeat("a", limit+1)), http.StatusRequestEntityTooLarge, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handled = false
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, tt.path, tt.body))
			if rec.Code != tt.wantStatus || handled != tt.wantHandled {
				t.Fatalf("got %d (handler ran: %v) %s, want %d (%v)", rec.Code, handled, rec.Body.String(), tt.wantStatus, tt.wantHandled)
			}
			if rec.Code != http.StatusRequestEntityTooLarge {
				return
			}
			if tt.path == "/v1/embeddings" {
				var oe OpenAIError
				if err := json.Unmarshal(rec.Body.Bytes(), &oe); err != nil || oe.Error.Code != "request_body_too_large" {
					t.Errorf("body %s, want an OpenAI error with code request_body_too_large", rec.Body.String())
				}
				return
			}
			var env envelope
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Success || !strings.Contains(env.Message, "MAX_REQUEST_BODY_MB") {
				t.Errorf("body %s, want the envelope naming MAX_REQUEST_BODY_MB", rec.Body.String())
			}
		})
	}
}

func TestBodyTooLargeIgnoresOtherErrors(t *testing.T) {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodPost, "/api/x", bytes.NewReader(nil))
	if BodyTooLarge(c, errors.New("unexpected EOF")) || c.IsAborted() {
		t.Error("BodyTooLarge answered an unrelated error")
	}
}
