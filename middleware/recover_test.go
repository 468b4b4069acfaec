package middleware

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"one-api/common"
)

func panicky(c *gin.Context) { panic("boom in handler") }

func TestRecover(t *testing.T) {
	e := gin.New()
	e.Use(AssignRequestID(), Recover())
	e.GET("/api/x", panicky)
	e.POST("/v1/chat/completions", panicky)
	e.GET("/api/written", func(c *gin.Context) {
		c.String(http.StatusOK, "partial")
		panic("after the header")
	})

	tests := []struct {
		method, path string
		check        func(t *testing.T, body []byte, id string)
	}{
		{"GET", "/api/x", func(t *testing.T, body []byte, _ string) {
			var env envelope
			if err := json.Unmarshal(body, &env); err != nil || env.Success || env.Message == "" {
				t.Errorf("body %s, want the envelope with success=false", body)
			}
		}},
		{"POST", "/v1/chat/completions", func(t *testing.T, body []byte, id string) {
			var oe OpenAIError
			if err := json.Unmarshal(body, &oe); err != nil || oe.Error.Type != "one_api_error" || !strings.Contains(oe.Error.Message, id) {
				t.Errorf("body %s, want an OpenAI error of type one_api_error quoting request id %s", body, id)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var logs bytes.Buffer
			defer common.SetLogOutput(&logs)()
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500", rec.Code)
			}
			id := rec.Header().Get(RequestIDHeader)
			tt.check(t, rec.Body.Bytes(), id)
			line := logs.String()
			if strings.Count(line, "\n") != 1 || !strings.HasPrefix(line, "[ERR]") ||
				!strings.Contains(line, "boom in handler") || !strings.Contains(line, "middleware.panicky") || !strings.Contains(line, id) {
				t.Errorf("log %q, want one [ERR] line with the panic, the stack and the request id", line)
			}
		})
	}

	t.Run("after the response started", func(t *testing.T) {
		defer common.SetLogOutput(&bytes.Buffer{})()
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", "/api/written", nil))
		if rec.Code != http.StatusOK || rec.Body.String() != "partial" {
			t.Errorf("got %d %q, want the started response left alone", rec.Code, rec.Body.String())
		}
	})

	t.Run("ErrAbortHandler passes through", func(t *testing.T) {
		a := gin.New()
		a.Use(Recover())
		a.GET("/stream", func(*gin.Context) { panic(http.ErrAbortHandler) })
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler re-raised", v)
			}
		}()
		a.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/stream", nil))
	})
}
