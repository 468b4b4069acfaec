package relay

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestReadBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		length int64 // Content-Length as claimed; -1 unknown
		limit  int64
		tooBig bool
	}{
		{"empty", 0, 0, 1 << 10, false},
		{"small", 100, 100, 1 << 10, false},
		{"unknown length", 3000, -1, 1 << 20, false},
		{"length understated", 3000, 10, 1 << 20, false},
		{"length overstated", 10, 3000, 1 << 20, false},
		{"at limit", 1 << 10, 1 << 10, 1 << 10, false},
		{"over limit", 1<<10 + 1, 1<<10 + 1, 1 << 10, true},
		{"over limit, unknown length", 5000, -1, 1 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Repeat("x", tc.size)
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
			req.ContentLength = tc.length
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = req
			got, err := readBody(c, tc.limit)
			if tc.tooBig {
				if mbe := (*http.MaxBytesError)(nil); !errors.As(err, &mbe) {
					t.Fatalf("err = %v, want *http.MaxBytesError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != body {
				t.Errorf("read %d bytes, want %d", len(got), len(body))
			}
		})
	}
}

// TestRatioContent checks the appended consume log content against the
// format one-api writes.
func TestRatioContent(t *testing.T) {
	for _, r := range [][3]float64{
		{0, 0, 0}, {0.75, 1, 1.33333}, {15, 1.5, 2}, {0.005, 0.015, 0.025}, {1e6, 1e-9, 30},
		{-0.0, math.Inf(1), math.NaN()},
	} {
		want := fmt.Sprintf("model ratio %.2f, group ratio %.2f, completion ratio %.2f", r[0], r[1], r[2])
		if got := ratioContent(r[0], r[1], r[2]); got != want {
			t.Errorf("ratioContent(%v) = %q, want %q", r, got, want)
		}
	}
}
