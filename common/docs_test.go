package common_test

// These tests keep the operator kit true to the code: .env.example,
// docs/configuration.md and docs/profiles/*.env name exactly the variables
// LoadConfig reads, with the defaults and accepted values it applies.

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/joho/godotenv"

	"one-api/common"
)

// envLine is one VAR=value line of a dotenv file, commented out or not.
type envLine struct {
	name, value string
	commented   bool
	doc         string // the comment line just above it
}

var envLineRE = regexp.MustCompile(`^(#)? *([A-Z][A-Z0-9_]*)=(.*)$`)

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

func readEnvLines(t *testing.T, rel string) []envLine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	var lines []envLine
	prev := ""
	for _, l := range strings.Split(string(b), "\n") {
		if m := envLineRE.FindStringSubmatch(l); m != nil {
			lines = append(lines, envLine{name: m[2], value: m[3], commented: m[1] != "", doc: prev})
		}
		prev = l
	}
	return lines
}

// readEnvFile parses rel the way start-up does (godotenv).
func readEnvFile(t *testing.T, rel string) map[string]string {
	t.Helper()
	m, err := godotenv.Read(filepath.Join(moduleRoot(t), rel))
	if err != nil {
		t.Fatalf("parse %s: %v", rel, err)
	}
	return m
}

// docRow is one variable row of docs/configuration.md.
type docRow struct{ name, def, accepted string }

var docRowRE = regexp.MustCompile("^\\| `([A-Z][A-Z0-9_]*)` \\| ([^|]*) \\| ([^|]*) \\| [^|]* \\|$")

func readDocRows(t *testing.T) []docRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []docRow
	for _, l := range strings.Split(string(b), "\n") {
		if m := docRowRE.FindStringSubmatch(l); m != nil {
			rows = append(rows, docRow{name: m[1], def: m[2], accepted: m[3]})
		}
	}
	if len(rows) == 0 {
		t.Fatal("no variable rows found in docs/configuration.md: has the table layout changed?")
	}
	return rows
}

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// codeVariables is every name LoadConfig reads.
func codeVariables(t *testing.T) map[string]bool {
	t.Helper()
	read := map[string]bool{}
	if _, err := common.LoadConfig(func(k string) (string, bool) { read[k] = true; return "", false }); err != nil {
		t.Fatalf("LoadConfig with nothing set: %v", err)
	}
	return read
}

// comparable blanks what legitimately differs between two loads of the same
// settings: the random session secret and whether a PRAGMA was set explicitly.
func comparable(c *common.Config) common.Config {
	v := *c
	v.SessionSecret = ""
	v.SQLite.JournalModeSet = false
	v.SQLite.SynchronousSet = false
	return v
}

func defaults(t *testing.T) common.Config {
	t.Helper()
	c, err := common.LoadConfig(mapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	return comparable(c)
}

// configDiff lists the fields where got and want differ, as PrintConfig
// writes them; "" when they are equal.
func configDiff(got, want common.Config) string {
	var g, w strings.Builder
	common.PrintConfig(&g, &got)
	common.PrintConfig(&w, &want)
	gl, wl := strings.Split(g.String(), "\n"), strings.Split(w.String(), "\n")
	var d strings.Builder
	for i := range gl {
		if gl[i] != wl[i] {
			fmt.Fprintf(&d, "  %s\n  %s\n", gl[i], wl[i])
		}
	}
	return d.String()
}

// diffNames says which names are only in a and which only in b.
func diffNames(a, b map[string]bool) (onlyA, onlyB []string) {
	for n := range a {
		if !b[n] {
			onlyA = append(onlyA, n)
		}
	}
	for n := range b {
		if !a[n] {
			onlyB = append(onlyB, n)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	return onlyA, onlyB
}

func TestDocsListEveryVariable(t *testing.T) {
	code := codeVariables(t)
	if len(code) < 50 {
		t.Fatalf("LoadConfig read only %d variables: is the recording lookup still used?", len(code))
	}
	lists := map[string]map[string]bool{".env.example": {}, "docs/configuration.md": {}}
	for _, l := range readEnvLines(t, ".env.example") {
		if lists[".env.example"][l.name] {
			t.Errorf(".env.example: %s appears twice", l.name)
		}
		lists[".env.example"][l.name] = true
	}
	for _, r := range readDocRows(t) {
		if lists["docs/configuration.md"][r.name] {
			t.Errorf("docs/configuration.md: %s has two rows", r.name)
		}
		lists["docs/configuration.md"][r.name] = true
	}
	for file, names := range lists {
		missing, extra := diffNames(code, names)
		if len(missing) > 0 {
			t.Errorf("%s lacks variables the code reads: %s", file, strings.Join(missing, ", "))
		}
		if len(extra) > 0 {
			t.Errorf("%s lists variables the code does not read: %s", file, strings.Join(extra, ", "))
		}
	}
}

// TestEnvExampleGivesDefaults: copying .env.example to .env changes nothing,
// and each line's "(default X)" says what the code uses.
func TestEnvExampleGivesDefaults(t *testing.T) {
	c, err := common.LoadConfig(mapLookup(readEnvFile(t, ".env.example")))
	if err != nil {
		t.Fatalf(".env.example does not load: %v", err)
	}
	if d := configDiff(comparable(c), defaults(t)); d != "" {
		t.Errorf(".env.example differs from the built-in defaults (got, want):\n%s", d)
	}
	for _, l := range readEnvLines(t, ".env.example") {
		if !strings.HasPrefix(l.doc, "# ") {
			t.Errorf(".env.example: %s has no comment line above it", l.name)
			continue
		}
		if !l.commented && !strings.HasSuffix(l.doc, "(default "+l.value+")") {
			t.Errorf(".env.example: the comment above %s=%s does not end with (default %s): %q", l.name, l.value, l.value, l.doc)
		}
	}
}

// TestEnvExampleExamplesLoad: the commented-out lines hold examples that
// load when uncommented.
func TestEnvExampleExamplesLoad(t *testing.T) {
	m := map[string]string{}
	for _, l := range readEnvLines(t, ".env.example") {
		m[l.name] = l.value
	}
	if _, err := common.LoadConfig(mapLookup(m)); err != nil {
		t.Errorf(".env.example with every line uncommented: %v", err)
	}
}

// setting is one value a profile promises (docs/performance.md, "Profiles").
type setting struct {
	name      string
	got, want any
}

func TestProfiles(t *testing.T) {
	code := codeVariables(t)
	tests := []struct {
		file string
		want func(c *common.Config) []setting
	}{
		{"docs/profiles/conservative.env", func(c *common.Config) []setting {
			return []setting{
				{"SQLITE_OPTIMIZE_ENABLED", c.SQLite.OptimizeEnabled, true},
				{"SQLITE_JOURNAL_MODE", c.SQLite.JournalMode, "WAL"},
				{"SQLITE_SYNCHRONOUS", c.SQLite.Synchronous, "NORMAL"},
				{"SQLITE_CACHE_SIZE", c.SQLite.CacheSize, -32000},
				{"HTTP_KEEPALIVE", c.HTTP.KeepAlive, 60 * time.Second},
				{"HTTP_MAX_IDLE_CONNS", c.HTTP.MaxIdleConns, 50},
				{"LOCAL_CACHE_ENABLED", c.Cache.Enabled, true},
				{"LOCAL_CACHE_TTL", c.Cache.TTL, 60 * time.Second},
				{"LOG_BATCH_ENABLED", c.LogBatch.Enabled, false},
				{"METRICS_ENABLED", c.Metrics.Enabled, true},
				{"PPROF_ENABLED", c.Pprof.Enabled, false},
			}
		}},
		{"docs/profiles/aggressive.env", func(c *common.Config) []setting {
			return []setting{
				{"SQLITE_OPTIMIZE_ENABLED", c.SQLite.OptimizeEnabled, true},
				{"SQLITE_JOURNAL_MODE", c.SQLite.JournalMode, "WAL"},
				{"SQLITE_SYNCHRONOUS", c.SQLite.Synchronous, "NORMAL"},
				{"SQLITE_CACHE_SIZE", c.SQLite.CacheSize, -128000},
				{"SQLITE_MMAP_SIZE", c.SQLite.MmapSize, int64(536870912)},
				{"HTTP_KEEPALIVE", c.HTTP.KeepAlive, 120 * time.Second},
				{"HTTP_MAX_IDLE_CONNS", c.HTTP.MaxIdleConns, 200},
				{"HTTP_MAX_IDLE_CONNS_PER_HOST", c.HTTP.MaxIdleConnsPerHost, 50},
				// The seed's unsafe values stay comments, not settings.
				{"HTTP_RESPONSE_HEADER_TIMEOUT", c.HTTP.ResponseHeaderTimeout, 300 * time.Second},
				{"HTTP_MAX_CONNS_PER_HOST", c.HTTP.MaxConnsPerHost, 0},
				{"LOCAL_CACHE_ENABLED", c.Cache.Enabled, true},
				{"LOCAL_CACHE_TTL", c.Cache.TTL, 120 * time.Second},
				{"LOG_BATCH_ENABLED", c.LogBatch.Enabled, true},
				{"LOG_BATCH_SIZE", c.LogBatch.Size, 100},
				{"LOG_CONSUME_ENABLED", c.LogBatch.ConsumeEnabled, false},
				{"BATCH_UPDATE_ENABLED", c.BatchUpdate.Enabled, true},
				{"METRICS_ENABLED", c.Metrics.Enabled, true},
				{"PPROF_ENABLED", c.Pprof.Enabled, true},
				{"PPROF_HOST", c.Pprof.Host, "127.0.0.1"},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			lines := readEnvLines(t, tt.file)
			withOptions := map[string]string{}
			for _, l := range lines {
				if !code[l.name] {
					t.Errorf("%s is not a variable the gateway reads", l.name)
				}
				withOptions[l.name] = l.value
			}
			c, err := common.LoadConfig(mapLookup(readEnvFile(t, tt.file)))
			if err != nil {
				t.Fatalf("does not load: %v", err)
			}
			for _, s := range tt.want(c) {
				if !reflect.DeepEqual(s.got, s.want) {
					t.Errorf("%s: got %v, want %v", s.name, s.got, s.want)
				}
			}
			if _, err := common.LoadConfig(mapLookup(withOptions)); err != nil {
				t.Errorf("with its commented options switched on: %v", err)
			}
		})
	}
}

// TestConfigurationDocDefaults: a default written as a value in
// docs/configuration.md, set explicitly, gives the same configuration as
// leaving the variable unset.
func TestConfigurationDocDefaults(t *testing.T) {
	want := defaults(t)
	for _, r := range readDocRows(t) {
		def, ok := strings.CutPrefix(r.def, "`")
		if !ok {
			if !strings.HasPrefix(r.def, "unset") {
				t.Errorf("%s: default %q is neither a `value` nor \"unset: ...\"", r.name, r.def)
			}
			continue
		}
		def = strings.TrimSuffix(def, "`")
		c, err := common.LoadConfig(mapLookup(map[string]string{r.name: def}))
		if err != nil {
			t.Errorf("%s=%s (the documented default) is rejected: %v", r.name, def, err)
			continue
		}
		if d := configDiff(comparable(c), want); d != "" {
			t.Errorf("%s: the documented default %s is not what the code uses when it is unset (got, want):\n%s", r.name, def, d)
		}
	}
}

var (
	intRangeRE   = regexp.MustCompile(`^integer (-?\d+) to (-?\d+)$`)
	intAtLeastRE = regexp.MustCompile(`^integer ≥ (-?\d+)$`)
	numberRE     = regexp.MustCompile(`^number (-?[\d.]+) to (-?[\d.]+)$`)
	enumItemRE   = regexp.MustCompile("`([^`]+)`")
)

// probes turns a documented "accepted" cell into values the code must take
// and values it must refuse. Free-text cells (paths, URLs) give none.
func probes(accepted string) (ok, bad []string) {
	add := func(s string, d int64) string {
		n, _ := new(big.Int).SetString(s, 10)
		return n.Add(n, big.NewInt(d)).String()
	}
	switch {
	case accepted == "true, false":
		return []string{"true", "false", "TRUE", "1", "0", "yes", "no", "on", "off"}, []string{"maybe", "2"}
	case intRangeRE.MatchString(accepted):
		m := intRangeRE.FindStringSubmatch(accepted)
		return []string{m[1], m[2]}, []string{add(m[1], -1), add(m[2], 1), "abc", "1.5"}
	case intAtLeastRE.MatchString(accepted):
		m := intAtLeastRE.FindStringSubmatch(accepted)
		return []string{m[1], "2147483647"}, []string{add(m[1], -1), "2147483648", "abc", "1.5"}
	case numberRE.MatchString(accepted):
		m := numberRE.FindStringSubmatch(accepted)
		return []string{m[1], m[2], "0.5"}, []string{"-0.5", m[2] + "1", "abc", "NaN"}
	case strings.HasPrefix(accepted, "one of "):
		for _, m := range enumItemRE.FindAllStringSubmatch(accepted, -1) {
			ok = append(ok, m[1], strings.ToLower(m[1]))
		}
		return ok, []string{"BOGUS"}
	}
	return nil, nil
}

// TestConfigurationDocAccepted: what docs/configuration.md says a variable
// accepts is what LoadConfig accepts, and a refused value names the variable.
func TestConfigurationDocAccepted(t *testing.T) {
	checked := 0
	for _, r := range readDocRows(t) {
		ok, bad := probes(r.accepted)
		if ok == nil {
			continue
		}
		checked++
		for _, v := range ok {
			if _, err := common.LoadConfig(mapLookup(map[string]string{r.name: v})); err != nil {
				t.Errorf("%s=%s is documented as accepted (%s) but: %v", r.name, v, r.accepted, err)
			}
		}
		for _, v := range bad {
			_, err := common.LoadConfig(mapLookup(map[string]string{r.name: v}))
			var envErr *common.EnvError
			switch {
			case err == nil:
				t.Errorf("%s=%s is outside the documented %q but was accepted", r.name, v, r.accepted)
			case !errors.As(err, &envErr) || envErr.Name != r.name:
				t.Errorf("%s=%s: error %q does not name %s", r.name, v, err, r.name)
			}
		}
	}
	if checked < 40 {
		t.Errorf("only %d rows have a checkable accepted column: has its wording changed?", checked)
	}
}

var envReadRE = regexp.MustCompile(`\bos\.(Getenv|LookupEnv|Environ)\(|\bsyscall\.Getenv\(`)

// directEnvReaders are the files allowed to read the environment outside
// common.LoadConfig, with the standard variables they read; those must be in
// docs/configuration.md's "Standard variables".
var directEnvReaders = map[string][]string{
	filepath.Join("common", "env.go"):        nil, // LoadConfig's own reader
	filepath.Join("common", "httpclient.go"): {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"},
	// Test support, not the gateway: TEST_POSTGRES_DSN and TEST_MYSQL_DSN.
	filepath.Join("internal", "testdb", "testdb.go"): nil,
}

// TestOnlyConfigReadsEnvironment: a variable read anywhere but through
// common.LoadConfig would escape every check above. bench/ is a separate
// load-testing program, not the gateway.
func TestOnlyConfigReadsEnvironment(t *testing.T) {
	root := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, standard, _ := strings.Cut(string(doc), "## Standard variables")
	for file, names := range directEnvReaders {
		src, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Errorf("%s: %v (remove it from directEnvReaders if it is gone)", file, err)
			continue
		}
		for _, n := range names {
			if !strings.Contains(string(src), `"`+n+`"`) {
				t.Errorf("%s no longer reads %s: update directEnvReaders", file, n)
			}
			if !strings.Contains(standard, "`"+n+"`") {
				t.Errorf("%s reads %s, which docs/configuration.md's \"Standard variables\" does not list", file, n)
			}
		}
	}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == "bench" || d.Name() == "testdata" || (strings.HasPrefix(d.Name(), ".") && rel != ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if _, ok := directEnvReaders[rel]; ok || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if envReadRE.MatchString(line) {
				t.Errorf("%s:%d reads the environment directly; read it in common.LoadConfig: %s", rel, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk module: %v", err)
	}
}

// fence is one fenced code block of a markdown file.
type fence struct{ lang, body string }

func readFences(t *testing.T, rel string) []fence {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	var (
		out  []fence
		cur  *fence
		body []string
	)
	for _, l := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(l)
		if !strings.HasPrefix(trimmed, "```") {
			if cur != nil {
				body = append(body, trimmed)
			}
			continue
		}
		if cur == nil {
			cur = &fence{lang: strings.TrimPrefix(trimmed, "```")}
			body = nil
			continue
		}
		cur.body = strings.Join(body, "\n")
		out = append(out, *cur)
		cur = nil
	}
	if cur != nil {
		t.Fatalf("%s: unclosed code fence", rel)
	}
	return out
}

var guides = []string{"docs/performance.md", "docs/performance.zh-CN.md"}

// TestGuideEnvSnippetsLoad: every dotenv block in the guides (the rollback
// settings) names known variables and passes validation.
func TestGuideEnvSnippetsLoad(t *testing.T) {
	code := codeVariables(t)
	for _, g := range guides {
		n := 0
		for _, f := range readFences(t, g) {
			if f.lang != "dotenv" {
				continue
			}
			n++
			m, err := godotenv.Unmarshal(f.body)
			if err != nil {
				t.Errorf("%s: dotenv block does not parse: %v", g, err)
				continue
			}
			for k := range m {
				if !code[k] {
					t.Errorf("%s: dotenv block sets %s, which the gateway does not read", g, k)
				}
			}
			if _, err := common.LoadConfig(mapLookup(m)); err != nil {
				t.Errorf("%s: dotenv block does not load: %v", g, err)
			}
		}
		if n == 0 {
			t.Errorf("%s: no dotenv block (the rollback settings) found", g)
		}
	}
}

var shellCommentRE = regexp.MustCompile(`(^|\s+)#(\s.*)?$`)

// TestGuidesHaveSameCommands: the English and Chinese guides carry the same
// code blocks in the same order; only shell comments may be translated.
func TestGuidesHaveSameCommands(t *testing.T) {
	norm := func(fs []fence) []string {
		var out []string
		for _, f := range fs {
			var lines []string
			for _, l := range strings.Split(f.body, "\n") {
				if f.lang == "sh" {
					l = shellCommentRE.ReplaceAllString(l, "")
				}
				if l != "" {
					lines = append(lines, l)
				}
			}
			out = append(out, f.lang+"\n"+strings.Join(lines, "\n"))
		}
		return out
	}
	en, zh := norm(readFences(t, guides[0])), norm(readFences(t, guides[1]))
	if len(en) != len(zh) {
		t.Fatalf("%s has %d code blocks, %s has %d", guides[0], len(en), guides[1], len(zh))
	}
	for i := range en {
		if en[i] != zh[i] {
			t.Errorf("code block %d differs:\n%s:\n%s\n%s:\n%s", i+1, guides[0], en[i], guides[1], zh[i])
		}
	}
}
