package common

import (
	"math"
	"testing"
)

func TestGCSetting(t *testing.T) {
	def := GCSetting{Percent: 400, PercentFrom: "default", Limit: 1 << 30, LimitFrom: "default"}
	tests := []struct {
		name    string
		env     map[string]string
		cgroup  int64
		want    GCSetting
		wantErr bool
	}{
		{"nothing set, no cgroup limit", nil, 0, def, false},
		{"cgroup limit: three quarters of it", nil, 512 << 20, GCSetting{Percent: 400, PercentFrom: "default", Limit: 384 << 20, LimitFrom: "cgroup"}, false},
		{"operator's GOGC", map[string]string{"GOGC": "100"}, 0, GCSetting{Percent: 100, PercentFrom: "GOGC", Limit: 1 << 30, LimitFrom: "default"}, false},
		{"GOGC=off", map[string]string{"GOGC": "off"}, 0, GCSetting{Percent: -1, PercentFrom: "GOGC", Limit: 1 << 30, LimitFrom: "default"}, false},
		{"operator's GOMEMLIMIT over the cgroup's", map[string]string{"GOMEMLIMIT": "200MiB"}, 512 << 20, GCSetting{Percent: 400, PercentFrom: "default", Limit: 200 << 20, LimitFrom: "GOMEMLIMIT"}, false},
		{"GOMEMLIMIT in bytes", map[string]string{"GOMEMLIMIT": "1000000"}, 0, GCSetting{Percent: 400, PercentFrom: "default", Limit: 1000000, LimitFrom: "GOMEMLIMIT"}, false},
		{"GOMEMLIMIT=off", map[string]string{"GOMEMLIMIT": "off"}, 0, GCSetting{Percent: 400, PercentFrom: "default", Limit: math.MaxInt64, LimitFrom: "GOMEMLIMIT"}, false},
		{"empty counts as unset", map[string]string{"GOGC": " ", "GOMEMLIMIT": ""}, 0, def, false},
		{"bad GOGC", map[string]string{"GOGC": "fast"}, 0, GCSetting{}, true},
		{"bad GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "1GB"}, 0, GCSetting{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			got, err := gcSetting(lookup, tt.cgroup)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseCgroupLimit(t *testing.T) {
	for in, want := range map[string]int64{"max\n": 0, "536870912\n": 512 << 20, "9223372036854771712\n": 0, "": 0, "-1": 0} {
		if g := parseCgroupLimit(in); g != want {
			t.Errorf("parseCgroupLimit(%q) = %d, want %d", in, g, want)
		}
	}
}

func TestGCSettingString(t *testing.T) {
	s := GCSetting{Percent: 400, PercentFrom: "default", Limit: 384 << 20, LimitFrom: "cgroup"}
	if g, w := s.String(), "garbage collector: GOGC=400 (default) GOMEMLIMIT=384MiB (cgroup)"; g != w {
		t.Errorf("got %q, want %q", g, w)
	}
	off := GCSetting{Percent: -1, PercentFrom: "GOGC", Limit: math.MaxInt64, LimitFrom: "GOMEMLIMIT"}
	if g, w := off.String(), "garbage collector: GOGC=off (GOGC) GOMEMLIMIT=off (GOMEMLIMIT)"; g != w {
		t.Errorf("got %q, want %q", g, w)
	}
}
