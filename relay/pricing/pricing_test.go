package pricing

import (
	"one-api/internal/logtest"
	"strings"
	"sync"
	"testing"
)

func defaults(t testing.TB) *Table {
	t.Helper()
	tab, err := New(DefaultUnknownModelRatio, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestDefaultRatios(t *testing.T) {
	tab := defaults(t)
	tests := []struct {
		model            string
		ratio, compRatio float64
	}{
		{"gpt-3.5-turbo", 0.25, 3},
		{"gpt-4o", 2.5, 4},
		{"gpt-4o-mini", 0.075, 4},
		{"gpt-4o-2024-05-13", 2.5, 3},
		{"gpt-4", 15, 2},
		{"o1-mini", 1.5, 4},
		{"text-embedding-3-small", 0.01, 1},
		{"whisper-1", 15, 0},
		{"llama3-8b-8192(33)", 0.15, 2},
	}
	for _, tt := range tests {
		r, known := tab.ModelRatio(tt.model)
		if r != tt.ratio || !known {
			t.Errorf("ModelRatio(%s) = %v, %v; want %v, true", tt.model, r, known, tt.ratio)
		}
		if g := tab.CompletionRatio(tt.model); g != tt.compRatio {
			t.Errorf("CompletionRatio(%s) = %v, want %v", tt.model, g, tt.compRatio)
		}
	}
	if n := len(tab.model); n != 566 {
		t.Errorf("default table has %d models, want one-api's 566", n)
	}
}

func TestQuota(t *testing.T) {
	tab := defaults(t)
	tests := []struct {
		name               string
		model, group       string
		prompt, completion int
		want               int64
	}{
		{"gpt-3.5-turbo", "gpt-3.5-turbo", "default", 100, 50, 63},     // (100+50×3)×0.25 = 62.5
		{"gpt-4o", "gpt-4o", "default", 1000, 500, 7500},               // (1000+500×4)×2.5
		{"gpt-4o-mini", "gpt-4o-mini", "default", 100, 50, 23},         // (100+50×4)×0.075 = 22.5
		{"group ratio 2", "gpt-3.5-turbo", "double", 100, 50, 125},     // 250×0.25×2
		{"unknown group is 1", "gpt-3.5-turbo", "nobody", 100, 50, 63}, //
		{"free model", "free-model", "default", 1000, 1000, 0},         // ratio 0
		// 100×0.07 is 7.000000000000001 in float64: one-api charged 8, so do we.
		{"float rounding edge", "deepseek-chat", "default", 100, 0, 8},
		{"completion ratio 0 still costs 1", "whisper-1", "default", 0, 10, 1},
		{"no tokens costs nothing", "gpt-4o", "default", 0, 0, 0},
		{"tiny request costs at least 1", "text-embedding-3-small", "default", 3, 0, 1},
	}
	tab, err := New(DefaultUnknownModelRatio, Overrides{
		ModelRatio: `{"free-model":0}`,
		GroupRatio: `{"default":1,"double":2}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mr, _ := tab.ModelRatio(tt.model)
			got := Quota(tt.prompt, tt.completion, mr, tab.CompletionRatio(tt.model), tab.GroupRatio(tt.group))
			if got != tt.want {
				t.Errorf("Quota = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPreConsumeQuota(t *testing.T) {
	tests := []struct {
		name             string
		pre              int64
		prompt, maxToken int
		ratio            float64
		want             int64
	}{
		{"gpt-3.5-turbo, no max_tokens", 500, 100, 0, 0.25, 150},
		{"gpt-4o with max_tokens", 500, 100, 1000, 2.5, 4000},
		{"truncated, not rounded", 500, 13, 0, 0.075, 38}, // 38.475
		{"group ratio 2", 500, 100, 0, 0.25 * 2, 300},
		{"free", 500, 100, 100, 0, 0},
	}
	for _, tt := range tests {
		if got := PreConsumeQuota(tt.pre, tt.prompt, tt.maxToken, tt.ratio); got != tt.want {
			t.Errorf("%s: PreConsumeQuota = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestUnknownModelWarnsOnce(t *testing.T) {
	log := logtest.Capture(t)
	tab, err := New(42, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, m := range []string{"mystery-model", "mystery-model", "other-model"} {
				if r, known := tab.ModelRatio(m); r != 42 || known {
					t.Errorf("ModelRatio(%s) = %v, %v; want 42, false", m, r, known)
				}
			}
		})
	}
	wg.Wait()
	if g := tab.CompletionRatio("mystery-model"); g != 1 {
		t.Errorf("CompletionRatio(unknown) = %v, want 1", g)
	}
	out := log.String()
	for _, m := range []string{`"mystery-model"`, `"other-model"`} {
		if n := strings.Count(out, m); n != 1 {
			t.Errorf("%s warned %d times, want once; log:\n%s", m, n, out)
		}
	}
	if n := strings.Count(out, "[WARN]"); n != 2 {
		t.Errorf("%d [WARN] lines, want 2", n)
	}
	// A rebuilt table (options changed) warns afresh: the operator may
	// have priced some models and not others.
	tab2, _ := New(42, Overrides{})
	tab2.ModelRatio("mystery-model")
	if n := strings.Count(log.String(), `"mystery-model"`); n != 2 {
		t.Errorf("after rebuild: warned %d times, want 2", n)
	}
}

func TestOverrides(t *testing.T) {
	tab, err := New(DefaultUnknownModelRatio, Overrides{
		ModelRatio:      `{"gpt-4o":5,"my-model":1.5}`,
		CompletionRatio: `{"my-model":2}`,
		GroupRatio:      `{"vip":0.5}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"overridden model", ratio(tab, "gpt-4o"), 5},
		{"new model", ratio(tab, "my-model"), 1.5},
		{"default kept", ratio(tab, "gpt-3.5-turbo"), 0.25},
		{"default completion kept", tab.CompletionRatio("gpt-4o"), 4},
		{"new completion", tab.CompletionRatio("my-model"), 2},
		{"group override", tab.GroupRatio("vip"), 0.5},
		// GroupRatio replaces the default object, as in one-api; an absent
		// group is 1 either way.
		{"group default gone but 1", tab.GroupRatio("svip"), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if q := Quota(1000, 1000, ratio(tab, "my-model"), tab.CompletionRatio("my-model"), tab.GroupRatio("vip")); q != 2250 {
		t.Errorf("Quota with overrides = %d, want 2250", q) // (1000+2000)×1.5×0.5
	}
}

func TestBadOverrides(t *testing.T) {
	tests := []struct {
		name string
		o    Overrides
	}{
		{"not JSON", Overrides{ModelRatio: `{"gpt-4o":`}},
		{"not an object", Overrides{CompletionRatio: `[1,2]`}},
		{"string ratio", Overrides{GroupRatio: `{"vip":"2"}`}},
		{"negative ratio", Overrides{ModelRatio: `{"gpt-4o":-1}`}},
	}
	for _, tt := range tests {
		if tab, err := New(DefaultUnknownModelRatio, tt.o); err == nil || tab != nil {
			t.Errorf("%s: New = %v, %v; want an error", tt.name, tab, err)
		}
	}
	if _, err := New(-1, Overrides{}); err == nil {
		t.Error("negative unknown-model ratio accepted")
	}
}

func ratio(tab *Table, model string) float64 {
	r, _ := tab.ModelRatio(model)
	return r
}

func BenchmarkLookupAndQuota(b *testing.B) {
	tab := defaults(b)
	b.ReportAllocs()
	for b.Loop() {
		mr, _ := tab.ModelRatio("gpt-4o-mini")
		Quota(1200, 350, mr, tab.CompletionRatio("gpt-4o-mini"), tab.GroupRatio("default"))
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(DefaultUnknownModelRatio, Overrides{ModelRatio: `{"x":1}`}); err != nil {
			b.Fatal(err)
		}
	}
}
