package controller

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
)

// bindStrict is bindJSON refusing fields the request type does not name, so
// a typo ("quotas") is an error rather than silently ignored. Request types
// list every field one-api's own console sends, read-only ones included.
func bindStrict(c *gin.Context, v any) error {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	if errors.Is(err, io.EOF) {
		return Errorf("a JSON body is required")
	}
	return Errorf("invalid JSON body: " + err.Error())
}
