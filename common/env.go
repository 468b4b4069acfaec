package common

import (
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// EnvError is a configuration value that does not parse. Its message names the
// variable, the value and what is accepted, so one journal line tells the
// operator what to fix.
type EnvError struct {
	Name   string
	Value  string
	Accept string
}

func (e *EnvError) Error() string {
	return fmt.Sprintf("invalid %s=%q: want %s", e.Name, e.Value, e.Accept)
}

// EnvReader reads typed values from an environment. The first value that does
// not parse is kept in Err; later reads keep returning defaults so that a
// whole config struct can be filled before the error is checked once.
type EnvReader struct {
	lookup func(string) (string, bool)
	err    error
	read   map[string]bool
}

// NewEnvReader reads from lookup; nil means the process environment.
func NewEnvReader(lookup func(string) (string, bool)) *EnvReader {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &EnvReader{lookup: lookup, read: map[string]bool{}}
}

// Err returns the first parse error, if any.
func (e *EnvReader) Err() error { return e.err }

// Names lists every variable read so far (set or not).
func (e *EnvReader) Names() []string {
	names := make([]string, 0, len(e.read))
	for n := range e.read {
		names = append(names, n)
	}
	return names
}

func (e *EnvReader) get(name string) (string, bool) {
	e.read[name] = true
	v, ok := e.lookup(name)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return "", false
	}
	return v, true
}

func (e *EnvReader) fail(name, value, accept string) {
	if e.err == nil {
		e.err = &EnvError{Name: name, Value: value, Accept: accept}
	}
}

// IsSet reports whether name has a non-empty value.
func (e *EnvReader) IsSet(name string) bool {
	_, ok := e.get(name)
	return ok
}

// String returns the value of name, or def when unset.
func (e *EnvReader) String(name, def string) string {
	if v, ok := e.get(name); ok {
		return v
	}
	return def
}

// Bool accepts true/false, 1/0, yes/no, on/off.
func (e *EnvReader) Bool(name string, def bool) bool {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	}
	e.fail(name, v, "true or false")
	return def
}

// Int returns an integer in [min, max].
func (e *EnvReader) Int(name string, def, min, max int) int {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		e.fail(name, v, rangeText(int64(min), int64(max)))
		return def
	}
	return n
}

// Int64 returns an integer in [min, max].
func (e *EnvReader) Int64(name string, def, min, max int64) int64 {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		e.fail(name, v, rangeText(min, max))
		return def
	}
	return n
}

// Float returns a finite number in [min, max].
func (e *EnvReader) Float(name string, def, min, max float64) float64 {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < min || f > max {
		e.fail(name, v, fmt.Sprintf("a number from %g to %g", min, max))
		return def
	}
	return f
}

// Seconds reads a whole number of seconds in [min, max].
func (e *EnvReader) Seconds(name string, def, min, max int) time.Duration {
	return time.Duration(e.Int(name, def, min, max)) * time.Second
}

// Millis reads a whole number of milliseconds in [min, max].
func (e *EnvReader) Millis(name string, def, min, max int) time.Duration {
	return time.Duration(e.Int(name, def, min, max)) * time.Millisecond
}

// Enum returns one of allowed (matched case-insensitively, returned as listed).
func (e *EnvReader) Enum(name, def string, allowed ...string) string {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return a
		}
	}
	e.fail(name, v, "one of "+strings.Join(allowed, ", "))
	return def
}

// CIDRList reads a comma-separated list of IP addresses or CIDR ranges.
func (e *EnvReader) CIDRList(name string) []string {
	v, ok := e.get(name)
	if !ok {
		return nil
	}
	var out []string
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(part); err != nil && net.ParseIP(part) == nil {
			e.fail(name, v, "a comma-separated list of IP addresses or CIDR ranges")
			return nil
		}
		out = append(out, part)
	}
	return out
}

func rangeText(min, max int64) string {
	switch {
	case max == math.MaxInt64 || max == math.MaxInt:
		return fmt.Sprintf("a whole number >= %d", min)
	default:
		return fmt.Sprintf("a whole number from %d to %d", min, max)
	}
}
