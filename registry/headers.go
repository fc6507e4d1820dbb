package registry

import (
	"maps"
	"net/http"
	"regexp"
	"strings"
)

// Masked is what responses show instead of a literal credential-looking
// header value. A Ferni PUT that sends it back keeps the stored value.
const Masked = "********"

var (
	// secretTemplate is {{secrets.KEY}}, spaces tolerated inside the braces.
	secretTemplate = regexp.MustCompile(`\{\{\s*secrets\.([A-Za-z0-9_.-]+)\s*\}\}`)
	secretName     = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	// headerToken is RFC 9110's token, the grammar of a field name.
	headerToken = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// managedHeaders are set by tether or the transport itself; letting a user
// override them would break the protocol or smuggle requests.
var managedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Content-Type": true, "Transfer-Encoding": true,
	"Connection": true, "Upgrade": true, "Te": true, "Trailer": true, "Keep-Alive": true,
	"Accept": true, "Accept-Encoding": true, "Mcp-Session-Id": true, "Mcp-Protocol-Version": true,
	"Last-Event-Id": true, "Sec-Websocket-Key": true, "Sec-Websocket-Version": true,
	"Sec-Websocket-Protocol": true, "Sec-Websocket-Extensions": true,
}

// TemplateRefs returns the secret names a header value references.
func TemplateRefs(value string) []string {
	var names []string
	for _, m := range secretTemplate.FindAllStringSubmatch(value, -1) {
		names = append(names, m[1])
	}
	return names
}

// Interpolate replaces every {{secrets.KEY}} in value with the secret. A
// missing secret is left as an empty string; validation refuses such
// templates before they are stored.
func Interpolate(value string, secrets Sensitive) string {
	return secretTemplate.ReplaceAllStringFunc(value, func(m string) string {
		return secrets[secretTemplate.FindStringSubmatch(m)[1]]
	})
}

// IsCredentialHeader reports whether a header's literal value should be
// masked in responses: Authorization, Cookie, Proxy-Authorization, or a name
// containing key, token, secret or auth.
func IsCredentialHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "cookie", "proxy-authorization":
		return true
	}
	for _, part := range []string{"key", "token", "secret", "auth"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// Listing is what lists show of a connection's credentials, read without
// decrypting them.
type Listing struct {
	// SecretNames are the secrets' names, sorted.
	SecretNames []string
	// Headers are the headers as DisplayHeaders shows them.
	Headers map[string]string
}

// DisplayHeaders is the headers as responses show them: templates as
// stored, literal values of credential-looking headers masked.
func (c *Connection) DisplayHeaders() map[string]string {
	if c.Listing != nil {
		return maps.Clone(c.Listing.Headers) // rows read for lists may be shared
	}
	out := make(map[string]string, len(c.Headers))
	for name, value := range c.Headers {
		out[name] = displayValue(name, value)
	}
	return out
}

// SecretNames returns the names of the connection's secrets, sorted
// (never nil).
func (c *Connection) SecretNames() []string {
	if c.Listing != nil {
		return append([]string{}, c.Listing.SecretNames...)
	}
	return c.Secrets.Names()
}

// displayValue is a header value as responses show it.
func displayValue(name, value string) string {
	if IsCredentialHeader(name) && !onlyTemplates(value) {
		return Masked
	}
	return value
}

// ListingOf is what lists show of c's credentials. shareable reports
// whether the headers, as shown, hold nothing but names, templates and
// masks, so that they may be stored unencrypted beside the ciphertext;
// a literal value that responses show (a header not named like a
// credential) is not: a list decrypts that row's headers instead.
func ListingOf(c *Connection) (l Listing, shareable bool) {
	l = Listing{SecretNames: c.Secrets.Names(), Headers: make(map[string]string, len(c.Headers))}
	shareable = true
	for name, value := range c.Headers {
		shown := displayValue(name, value)
		if shown != Masked && !onlyTemplates(shown) {
			shareable = false
		}
		l.Headers[name] = shown
	}
	return l, shareable
}

// onlyTemplates reports whether a value holds no literal credential: its
// templates, at most an auth scheme word before them ("Bearer "), nothing
// else.
func onlyTemplates(value string) bool {
	if !secretTemplate.MatchString(value) {
		return false
	}
	rest := strings.TrimSpace(secretTemplate.ReplaceAllString(value, ""))
	if rest == "" {
		return true
	}
	if len(rest) > 16 || strings.ContainsAny(rest, " \t") {
		return false
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true // a scheme word such as Bearer, Basic, Token
}

// validateHeaders checks header names and values, and that every template
// names a secret that exists.
func validateHeaders(headers, secrets Sensitive) error {
	for name, value := range headers {
		if !headerToken.MatchString(name) {
			return errorf(ErrValidation, "header name %q is not a valid HTTP field name", name)
		}
		if managedHeaders[http.CanonicalHeaderKey(name)] {
			return errorf(ErrValidation, "header %q is managed by tether and cannot be set", name)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return errorf(ErrValidation, "header %q: value must not contain CR, LF or NUL", name)
		}
		rest := secretTemplate.ReplaceAllString(value, "")
		if strings.Contains(rest, "{{") {
			return errorf(ErrValidation, "header %q: malformed template; use {{secrets.KEY}}", name)
		}
		for _, ref := range TemplateRefs(value) {
			if _, ok := secrets[ref]; !ok {
				return errorf(ErrValidation, "header %q references secret %q, which is not set; add it under secrets", name, ref)
			}
		}
	}
	return nil
}

func validateSecretNames(secrets Sensitive) error {
	for name := range secrets {
		if !secretName.MatchString(name) {
			return errorf(ErrValidation, "secret name %q must be 1-64 letters, digits, '_', '.' or '-'", name)
		}
	}
	return nil
}
