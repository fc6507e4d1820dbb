package oauth

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// parseHTTPURL parses an absolute http(s) URL with a host and no userinfo.
// what names the URL in errors; the URL itself is never echoed.
func parseHTTPURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid URL", what)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("%s must be an http or https URL", what)
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%s has no host", what)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s must not contain userinfo", what)
	}
	return u, nil
}

// CanonicalResource returns the canonical form of an MCP server URL used as
// the RFC 8707 resource indicator: scheme and host lowercased, the scheme's
// default port dropped, no fragment. The path and query are kept as given
// (the MCP specification identifies a server by its full URL).
func CanonicalResource(raw string) (string, error) {
	u, err := canonicalURL("server URL", raw)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func canonicalURL(what, raw string) (*url.URL, error) {
	u, err := parseHTTPURL(what, raw)
	if err != nil {
		return nil, err
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	u.Host = host
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// resourceMatches reports whether the resource named by protected resource
// metadata covers the server URL (both canonical). RFC 9728 §3.3 asks for
// identity, but servers commonly name their origin or a parent path (the
// root well-known document describes the origin), and the official
// TypeScript SDK accepts that; the rule below still refuses another origin
// or a sibling path, which is what stops one server from borrowing another's
// resource. A trailing slash is not significant.
func resourceMatches(resource, server *url.URL) bool {
	if resource.Scheme != server.Scheme || resource.Host != server.Host {
		return false
	}
	rp := strings.TrimSuffix(resource.EscapedPath(), "/")
	sp := strings.TrimSuffix(server.EscapedPath(), "/")
	if resource.RawQuery != "" {
		return rp == sp && resource.RawQuery == server.RawQuery
	}
	return rp == "" || rp == sp || strings.HasPrefix(sp, rp+"/")
}

// protectedResourceMetadataURLs lists where RFC 9728 metadata for server may
// live, in the order SECURITY.md gives: the path-inserted well-known URL (for
// a server with a path), then the root one.
func protectedResourceMetadataURLs(server *url.URL) []string {
	const wk = "/.well-known/oauth-protected-resource"
	base := server.Scheme + "://" + server.Host
	var out []string
	if p := strings.TrimSuffix(server.EscapedPath(), "/"); p != "" {
		out = append(out, base+wk+p)
	}
	return append(out, base+wk)
}

// authServerMetadataURLs lists where RFC 8414 / OpenID Connect metadata for
// issuer may live, in the order of the MCP specification: for an issuer with
// a path, path-inserted RFC 8414, path-inserted OIDC, then path-appended
// OIDC; without a path, RFC 8414 and OIDC at the root.
func authServerMetadataURLs(issuer *url.URL) []string {
	base := issuer.Scheme + "://" + issuer.Host
	p := strings.TrimSuffix(issuer.EscapedPath(), "/")
	if p == "" {
		return []string{
			base + "/.well-known/oauth-authorization-server",
			base + "/.well-known/openid-configuration",
		}
	}
	return []string{
		base + "/.well-known/oauth-authorization-server" + p,
		base + "/.well-known/openid-configuration" + p,
		base + p + "/.well-known/openid-configuration",
	}
}

// checkEndpoint validates an endpoint URL from metadata or from the user: an
// absolute http(s) URL with no userinfo and no fragment (RFC 6749 §3.1), and
// https whenever the issuer is https, so metadata cannot downgrade the token
// exchange to plaintext. An empty value passes when !required.
func checkEndpoint(name, raw string, required, issuerHTTPS bool) error {
	if raw == "" {
		if required {
			return fmt.Errorf("%w: %s is missing", ErrInvalidMetadata, name)
		}
		return nil
	}
	u, err := parseHTTPURL(name, raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMetadata, err)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%w: %s must not have a fragment", ErrInvalidMetadata, name)
	}
	if issuerHTTPS && u.Scheme != "https" {
		return fmt.Errorf("%w: %s is http but the issuer is https", ErrInvalidMetadata, name)
	}
	return nil
}

// issuersEqual compares issuer identifiers, tolerating one trailing slash as
// the go-sdk does (an issuer with an empty path is commonly written either
// way; RFC 3986 §6.2.3 treats them alike).
func issuersEqual(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}
