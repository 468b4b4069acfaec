package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// budget is issue 16's first-load limit: JS + CSS, gzipped.
const budget = 150 * 1024

func engine(t *testing.T) (*gin.Engine, *Console) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	c.Register(e)
	return e, c
}

func get(e *gin.Engine, path string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func TestFirstLoadWithinBudget(t *testing.T) {
	_, c := engine(t)
	size, names := c.GzipSize()
	if len(names) < 2 {
		t.Fatalf("index.html loads %v, want the console's JS and CSS", names)
	}
	if size > budget {
		t.Errorf("first load is %d bytes of gzipped JS+CSS (%v), over the %d budget", size, names, budget)
	}
	t.Logf("first load: %d bytes gzipped in %d files", size, len(names))
}

func TestIndexHeadersAndHashedAssets(t *testing.T) {
	e, _ := engine(t)
	rec := get(e, "/")
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP = %q, want scripts from self only, no unsafe-inline", csp)
	}
	body := rec.Body.String()
	if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(body) || strings.Contains(body, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
		t.Error("index.html has an inline script or handler, which the CSP would block")
	}
	if rec.Header().Get("Cache-Control") != "no-cache" || rec.Header().Get("ETag") == "" {
		t.Errorf("index cache headers: %q %q, want no-cache with an ETag", rec.Header().Get("Cache-Control"), rec.Header().Get("ETag"))
	}
	// Every asset the page names is hashed, immutable, and gzipped on request.
	refs := regexp.MustCompile(`"/assets/([^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(refs) < 2 {
		t.Fatalf("index names %d assets", len(refs))
	}
	for _, r := range refs {
		if !regexp.MustCompile(`\.[0-9a-f]{10}\.(js|css)$`).MatchString(r[1]) {
			t.Errorf("asset %s is not named by its hash", r[1])
		}
		a := get(e, "/assets/"+r[1], "Accept-Encoding", "gzip, br")
		if a.Code != 200 || a.Header().Get("Content-Encoding") != "gzip" || !strings.Contains(a.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %d, encoding %q, cache %q", r[1], a.Code, a.Header().Get("Content-Encoding"), a.Header().Get("Cache-Control"))
		}
		if a.Header().Get("Content-Security-Policy") == "" || a.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s lacks the security headers", r[1])
		}
	}
}

func TestETagRevalidation(t *testing.T) {
	e, _ := engine(t)
	for _, path := range []string{"/", "/assets/core.js"} {
		first := get(e, path)
		etag := first.Header().Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", path)
		}
		again := get(e, path, "If-None-Match", etag)
		if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("%s with If-None-Match = %d (%d bytes), want an empty 304", path, again.Code, again.Body.Len())
		}
		plain := get(e, path)
		if plain.Header().Get("Content-Encoding") != "" {
			t.Errorf("%s without Accept-Encoding came gzipped", path)
		}
	}
	if rec := get(e, "/assets/nope.js"); rec.Code != 404 {
		t.Errorf("unknown asset = %d, want 404", rec.Code)
	}
}

// TestNoHTMLSinks keeps the console's one rule for untrusted strings: they
// become text nodes. No script may parse strings as HTML.
func TestNoHTMLSinks(t *testing.T) {
	entries, err := static.ReadDir("static/assets")
	if err != nil {
		t.Fatal(err)
	}
	sink := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function`)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".js") {
			continue
		}
		b, _ := static.ReadFile("static/assets/" + e.Name())
		if m := sink.Find(b); m != nil {
			t.Errorf("%s uses %s", e.Name(), m)
		}
	}
}
