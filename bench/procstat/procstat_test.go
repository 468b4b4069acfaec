package procstat

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "42 (one-api) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1234 0 0", 3 * time.Second, false},
		{"comm with spaces and parens", "7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5 0 0", 70 * time.Millisecond, false},
		{"short", "7 (x) R 1 2", 0, true},
		{"no comm", "garbage", 0, true},
		{"not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 4 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tone-api\nVmPeak:\t  900 kB\nVmHWM:\t   20480 kB\nVmRSS:\t 10000 kB\n"
	got, err := parseStatusKB(status, "VmHWM:")
	if err != nil {
		t.Fatal(err)
	}
	if w := int64(20480 << 10); got != w {
		t.Errorf("got %d, want %d", got, w)
	}
	if _, err := parseStatusKB(status, "VmSwap:"); err == nil {
		t.Error("missing key: want an error")
	}
}

func TestSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := CPUTime(os.Getpid()); err != nil {
		t.Errorf("CPUTime(self): %v", err)
	}
	rss, err := PeakRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Errorf("PeakRSS(self) = %d, %v; want > 0", rss, err)
	}
	if _, err := CPUTime(1 << 30); err == nil || errors.Is(err, ErrUnsupported) {
		t.Errorf("CPUTime(no such pid) = %v, want a read error", err)
	}
}
