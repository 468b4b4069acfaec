package openai

import "encoding/json"

// Error types the gateway uses in Error.Type.
const (
	TypeOneAPI         = "one_api_error"
	TypeUpstream       = "upstream_error"
	TypeInvalidRequest = "invalid_request_error"
)

// Error is an OpenAI-format error object; clients' SDKs parse it into their
// typed errors.
type Error struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   string `json:"param"`
	Code    any    `json:"code"` // a string, a number or null, as upstream sent it
}

func (e Error) Error() string { return e.Message }

// ErrorResponse is the body of an error answer:
// {"error":{"message":"...","type":"...","param":"","code":...}}.
type ErrorResponse struct {
	Error Error `json:"error"`
}

// ParseErrorResponse reads an upstream error body. ok is false unless it is
// an OpenAI-format error with a message, type or code.
func ParseErrorResponse(body []byte) (e Error, ok bool) {
	var wire struct {
		Error *struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Param   json.RawMessage `json:"param"` // upstream often sends null
			Code    any             `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &wire) != nil || wire.Error == nil {
		return Error{}, false
	}
	w := wire.Error
	e = Error{Message: w.Message, Type: w.Type, Code: w.Code}
	var param string
	if json.Unmarshal(w.Param, &param) == nil {
		e.Param = param
	}
	return e, w.Message != "" || w.Type != "" || w.Code != nil
}
