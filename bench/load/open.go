package load

import (
	"context"
	"fmt"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// OpenLoop sends t at a fixed rate for d, whatever the latency of the
// answers, and returns once every request has finished.
func OpenLoop(ctx context.Context, client *http.Client, t Target, rate int, d time.Duration) (*Result, error) {
	if rate <= 0 || d <= 0 {
		return nil, fmt.Errorf("open loop: rate %d and duration %v must be positive", rate, d)
	}
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: t.Method, URL: t.URL, Body: t.Body, Header: t.Header})
	// MaxBody keeps the load generator from holding every 10 KB body: the
	// status says whether the request worked, and it shares a core with the
	// mock.
	atk := vegeta.NewAttacker(vegeta.Client(client), vegeta.MaxBody(512))
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()

	res := newResult()
	start := time.Now()
	for r := range atk.Attack(targeter, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, d, "") {
		res.add(int(r.Code), r.Latency, r.Error)
	}
	res.finish(time.Since(start))
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("open loop: %w", err)
	}
	return res, nil
}
