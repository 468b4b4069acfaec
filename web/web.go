// Package web serves the console (issue 16): a single page of plain
// JavaScript and CSS embedded in the binary, speaking only the /api routes.
// Assets are read, hashed and gzipped once at start; index.html names them
// by content hash, so they are cached for a year and a new build is fetched
// at once. Every answer carries a Content-Security-Policy that allows no
// inline script.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed static
var static embed.FS

// CSP allows scripts, styles and connections to this origin only: no
// inline script or style element, no framing, no plugins.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one file, ready to serve.
type asset struct {
	ctype string
	body  []byte
	gz    []byte // nil when gzip does not make it smaller
	etag  string
	// immutable: served under its hashed name, cacheable for a year.
	immutable bool
}

// Console holds the embedded files.
type Console struct {
	index  *asset
	assets map[string]*asset // by name under /assets/, plain and hashed
}

// New loads, hashes and compresses the embedded files.
func New() (*Console, error) {
	c := &Console{assets: map[string]*asset{}}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	entries, err := fs.ReadDir(sub, "assets")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		body, err := fs.ReadFile(sub, "assets/"+name)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		a := newAsset(name, body)
		c.assets[name] = a
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + a.etag[1:11] + ext
		c.assets[hashed] = &asset{ctype: a.ctype, body: a.body, gz: a.gz, etag: a.etag, immutable: true}
		index = bytes.ReplaceAll(index, []byte(`"/assets/`+name+`"`), []byte(`"/assets/`+hashed+`"`))
	}
	c.index = newAsset("index.html", index)
	return c, nil
}

func newAsset(name string, body []byte) *asset {
	sum := sha256.Sum256(body)
	a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	a.ctype = mime.TypeByExtension(path.Ext(name))
	if a.ctype == "" {
		a.ctype = "application/octet-stream"
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(body)
	_ = zw.Close()
	if buf.Len() < len(body) {
		a.gz = buf.Bytes()
	}
	return a
}

// Register serves the console at / and its files under /assets/.
func (c *Console) Register(e *gin.Engine) {
	index := func(ctx *gin.Context) { c.index.serve(ctx) }
	e.GET("/", index)
	e.HEAD("/", index)
	file := func(ctx *gin.Context) {
		a, ok := c.assets[ctx.Param("name")]
		if !ok {
			ctx.Header("Content-Security-Policy", CSP)
			ctx.String(http.StatusNotFound, "not found\n")
			return
		}
		a.serve(ctx)
	}
	e.GET("/assets/:name", file)
	e.HEAD("/assets/:name", file)
}

// GzipSize is the compressed size of the files index.html loads (the first
// load's JS and CSS), for the size budget test.
func (c *Console) GzipSize() (int, []string) {
	total := 0
	var names []string
	for name, a := range c.assets {
		if !a.immutable || !bytes.Contains(c.index.body, []byte("/assets/"+name)) {
			continue
		}
		names = append(names, name)
		if a.gz != nil {
			total += len(a.gz)
		} else {
			total += len(a.body)
		}
	}
	return total, names
}

func (a *asset) serve(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	if a.immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// Revalidated every time: a 304 when unchanged.
		h.Set("Cache-Control", "no-cache")
	}
	if inm := c.GetHeader("If-None-Match"); inm != "" && strings.Contains(inm, a.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && strings.Contains(c.GetHeader("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	c.Status(http.StatusOK)
	if c.Request.Method != http.MethodHead {
		_, _ = c.Writer.Write(body)
	}
}
