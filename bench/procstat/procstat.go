// Package procstat reads a process's CPU time and peak memory from Linux's
// /proc, which is how the benchmark charges CPU and RSS to one arm's process
// without instrumenting it.
package procstat

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrUnsupported is returned where /proc does not exist.
var ErrUnsupported = errors.New("procstat: /proc not available")

// clockTick is USER_HZ; it is 100 on every Linux the kernel ABI allows, and
// reading sysconf(_SC_CLK_TCK) would need cgo.
const clockTick = 10 * time.Millisecond

// CPUTime is utime+stime of pid, all threads.
func CPUTime(pid int) (time.Duration, error) {
	b, err := readProc(pid, "stat")
	if err != nil {
		return 0, err
	}
	return parseStat(string(b))
}

// PeakRSS is VmHWM of pid in bytes: the high-water mark of its resident set
// since it started.
func PeakRSS(pid int) (int64, error) {
	b, err := readProc(pid, "status")
	if err != nil {
		return 0, err
	}
	return parseStatusKB(string(b), "VmHWM:")
}

func readProc(pid int, file string) ([]byte, error) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return nil, ErrUnsupported
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return nil, fmt.Errorf("procstat: %w", err)
	}
	return b, nil
}

// parseStat reads fields 14 and 15 of /proc/<pid>/stat; the command name in
// field 2 may hold spaces and parentheses, so fields count from the last ')'.
func parseStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("procstat: malformed stat %q", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("procstat: short stat %q", s)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: stat field %q: %w", v, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

func parseStatusKB(s, key string) (int64, error) {
	for line := range strings.Lines(s) {
		rest, ok := strings.CutPrefix(line, key)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: %s %q: %w", key, f[0], err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("procstat: no %s line", key)
}
