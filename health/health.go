// Package health answers the probes of process supervisors and load
// balancers: GET /healthz (the process is alive and serving HTTP; nothing
// else is touched, so a slow database never gets a healthy process
// restarted) and GET /readyz (send traffic here: the database and Redis
// answer and the process is not shutting down). Readiness turns 503 the
// moment Drain is called, when SIGTERM arrives, so that a load balancer
// stops sending new requests before the listener closes.
package health

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"one-api/common"
)

// checkTimeout bounds each dependency check of a readiness probe; probes
// usually time out after 1 to 5 seconds themselves.
const checkTimeout = time.Second

// Check is one dependency readiness needs.
type Check struct {
	Name string
	Ping func(context.Context) error
}

// Checker holds the readiness state. Build it with New.
type Checker struct {
	checks   []Check
	draining atomic.Bool
	// down remembers which checks failed last time, so a dependency going
	// down and coming back is logged once each way, not at every probe.
	mu   sync.Mutex
	down map[string]bool
}

// New returns a Checker over checks (a nil Ping is skipped: the dependency
// is not configured).
func New(checks ...Check) *Checker {
	c := &Checker{down: map[string]bool{}}
	for _, ch := range checks {
		if ch.Ping != nil {
			c.checks = append(c.checks, ch)
		}
	}
	return c
}

// Drain makes readiness fail from now on: the process is stopping.
func (c *Checker) Drain() { c.draining.Store(true) }

// Draining reports whether Drain was called.
func (c *Checker) Draining() bool { return c.draining.Load() }

// Register adds GET (and HEAD) /healthz and /readyz to e.
func (c *Checker) Register(e *gin.Engine) {
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		e.Handle(m, "/healthz", c.live)
		e.Handle(m, "/readyz", c.ready)
	}
}

// Status is the body of both probes.
type Status struct {
	Status string `json:"status"` // "ok", "draining" or "unavailable"
	// Checks has each dependency's state, "ok" or "down"; the error itself
	// is logged, never sent: it may name hosts and users.
	Checks map[string]string `json:"checks,omitempty"`
}

func (c *Checker) live(ctx *gin.Context) {
	ctx.JSON(http.StatusOK, Status{Status: "ok"})
}

func (c *Checker) ready(ctx *gin.Context) {
	if c.Draining() {
		ctx.JSON(http.StatusServiceUnavailable, Status{Status: "draining"})
		return
	}
	st, ok := c.check(ctx.Request.Context())
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	ctx.JSON(code, st)
}

// check runs every dependency check, concurrently, each within
// checkTimeout.
func (c *Checker) check(ctx context.Context) (Status, bool) {
	errs := make([]error, len(c.checks))
	var wg sync.WaitGroup
	for i, ch := range c.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			errs[i] = ch.Ping(cctx)
		}()
	}
	wg.Wait()
	st := Status{Status: "ok", Checks: make(map[string]string, len(c.checks))}
	ok := true
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, ch := range c.checks {
		state := "ok"
		if errs[i] != nil {
			state, ok = "down", false
			if !c.down[ch.Name] {
				common.Warn("readiness: %s unreachable: %v", ch.Name, errs[i])
			}
		} else if c.down[ch.Name] {
			common.SysLog("readiness: %s reachable again", ch.Name)
		}
		c.down[ch.Name] = errs[i] != nil
		st.Checks[ch.Name] = state
	}
	if !ok {
		st.Status = "unavailable"
	}
	return st, ok
}
