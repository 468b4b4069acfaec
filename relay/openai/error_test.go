package openai

import (
	"encoding/json"
	"testing"
)

func TestErrorResponseShape(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{
			Error{Message: "no channel for gpt-x (request id: 1)", Type: TypeOneAPI, Code: "model_not_found"},
			`{"error":{"message":"no channel for gpt-x (request id: 1)","type":"one_api_error","param":"","code":"model_not_found"}}`,
		},
		{
			Error{Message: "bad", Type: TypeInvalidRequest},
			`{"error":{"message":"bad","type":"invalid_request_error","param":"","code":null}}`,
		},
	}
	for _, tt := range tests {
		got, err := json.Marshal(ErrorResponse{Error: tt.err})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func TestParseErrorResponse(t *testing.T) {
	tests := []struct {
		body   string
		want   Error
		wantOK bool
	}{
		{
			`{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			Error{Message: "Incorrect API key provided", Type: "invalid_request_error", Code: "invalid_api_key"}, true,
		},
		{`{"error":{"message":"x","type":"t","param":"model","code":429}}`, Error{Message: "x", Type: "t", Param: "model", Code: 429.0}, true},
		{`{"error":"plain string"}`, Error{}, false},
		{`{"error":{}}`, Error{}, false},
		{`{"detail":"Not Found"}`, Error{}, false},
		{`<html>`, Error{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseErrorResponse([]byte(tt.body))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseErrorResponse(%s) = %+v, %v; want %+v, %v", tt.body, got, ok, tt.want, tt.wantOK)
		}
	}
}
