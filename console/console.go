// Package console is tether's web console: a single page, built into the
// binary, where a customer signs in with an API key, connects MCP servers
// (OAuth in a popup) and manages their tools. It is plain ES modules and
// CSS embedded with embed.FS — no build step, nothing to keep in sync, no
// resource from another origin — and it talks only to tether's public API
// (openapi.yaml), with the key the user pasted.
//
// Handler serves the files with the console's security headers; the server
// mounts it at /console/:
//
//	h, err := console.Handler(console.Options{FrameAncestors: "'none'"})
//	srv, err := server.New(server.Options{Console: h, ...})
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Files is the console's static files (flat: one folder, no subfolders).
var Files = mustSub(static, "static")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// Options configure the console's handler.
type Options struct {
	// FrameAncestors is the CSP frame-ancestors source list: which pages
	// may embed the console in a frame. "" means 'none'. Check operator
	// input with ParseFrameAncestors first.
	FrameAncestors string
}

// DefaultFrameAncestors forbids embedding.
const DefaultFrameAncestors = "'none'"

// sourceExpr is one CSP source expression a frame-ancestors list may hold:
// 'self', 'none', a scheme ("https:") or a host source with optional
// scheme, wildcard subdomain, port and path. Anything else — a ';' or ','
// that would start another directive, quotes, whitespace tricks — is
// refused, so the flag cannot widen the rest of the policy.
var sourceExpr = regexp.MustCompile(`^(?:'self'|'none'|[a-zA-Z][a-zA-Z0-9+.-]*:|(?:[a-zA-Z][a-zA-Z0-9+.-]*://)?(?:\*\.)?[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*(?::(?:[0-9]{1,5}|\*))?(?:/[a-zA-Z0-9._~%!$&()*+=:@/-]*)?|\*)$`)

// ParseFrameAncestors checks an operator's frame-ancestors value (the
// --console-frame-ancestors flag) and returns it normalized: source
// expressions separated by single spaces. "" is 'none'; 'none' cannot be
// combined with other sources.
func ParseFrameAncestors(v string) (string, error) {
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return DefaultFrameAncestors, nil
	}
	for _, f := range fields {
		if !sourceExpr.MatchString(f) || strings.ContainsAny(f, ";,\"") {
			return "", fmt.Errorf("frame-ancestors: %q is not a CSP source expression (e.g. 'self', https://app.example.com, https://*.example.com)", f)
		}
		if f == "'none'" && len(fields) > 1 {
			return "", errors.New("frame-ancestors: 'none' cannot be combined with other sources")
		}
	}
	return strings.Join(fields, " "), nil
}

// policy is the console's Content-Security-Policy: everything from its own
// origin only, no inline script or style, no plugins, no <base>, forms
// only to itself, and Trusted Types required, so that no string can reach
// an HTML sink (the page builds its DOM with textContent and DOM calls).
func policy(frameAncestors string) string {
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self'",
		"connect-src 'self'",
		"font-src 'self'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors " + frameAncestors,
		"require-trusted-types-for 'script'",
		"trusted-types 'none'",
	}, "; ")
}

// file is one static file, read once.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the console's files at /console/ (index.html for the
// folder itself) with its security headers. Requests for anything else
// under /console/ are 404.
func Handler(o Options) (http.Handler, error) {
	fa := o.FrameAncestors
	if fa == "" {
		fa = DefaultFrameAncestors
	}
	fa, err := ParseFrameAncestors(fa)
	if err != nil {
		return nil, err
	}
	files := map[string]file{}
	err = fs.WalkDir(Files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(Files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(name))
		switch path.Ext(name) { // not left to the host's mime tables
		case ".js", ".mjs":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".html":
			ct = "text/html; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		files[name] = file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the console's files: %w", err)
	}
	csp := policy(fa)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/console/")
		if name == "" {
			name = "index.html"
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The OAuth popup must keep its opener to post back to the page.
		h.Set("Cross-Origin-Opener-Policy", "same-origin-allow-popups")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
		if fa == DefaultFrameAncestors {
			h.Set("X-Frame-Options", "DENY") // for browsers without CSP 3
		}
		f, ok := files[name]
		if !ok || strings.Contains(name, "/") {
			http.Error(w, "no such file in the console\n", http.StatusNotFound)
			return
		}
		h.Set("Content-Type", f.contentType)
		h.Set("ETag", f.etag)
		// Revalidate every time: a new tether binary may ship new files
		// under the same names, and the ETag makes revalidation cheap.
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
	}), nil
}
