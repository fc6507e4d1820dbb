package netguard

import (
	"errors"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Scheme sets for [Guard.CheckURL].
var (
	// HTTPSchemes is for MCP HTTP transports, OAuth discovery and token calls.
	HTTPSchemes = []string{"https", "http"}
	// WebSocketSchemes is for MCP websocket transports.
	WebSocketSchemes = []string{"wss", "ws"}
)

// defaultPorts are the implied ports of the schemes tether speaks; the port
// rule applies to them like to an explicit port.
var defaultPorts = map[string]uint16{"http": 80, "https": 443, "ws": 80, "wss": 443}

// maxHostLen is the DNS limit on a name in presentation form (RFC 1035).
const maxHostLen = 253

// CheckURL applies the URL policy before any network I/O and returns the
// parsed URL with its host IDNA-normalised to lowercase ASCII. The policy:
// the scheme is one of schemes; no userinfo; a non-empty host; no IPv6 zone;
// an IP literal (canonical dotted IPv4 or bracketed IPv6) is classified at
// once against the deny list and AllowCIDRs; any other host whose last label
// is all digits or starts with 0x (127.1, 2130706433, 0x7f.1, 0177.0.0.1) is
// refused, because C resolvers turn those into addresses the check never saw;
// localhost names are refused unless AllowCIDRs trusts loopback; the port,
// explicit or implied by the scheme, is 80, 443 or at least 1024.
//
// Passing CheckURL does not make a URL safe to fetch: a name can resolve to
// anything, and it is the dial-time check that decides. CheckURL is there so
// users get a clear error at once.
//
// Errors wrap [ErrRefused] and read like
// "netguard: refused by network policy: host 127.0.0.1 is a loopback address".
func (g *Guard) CheckURL(raw string, schemes []string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// Don't echo url.Parse's message: it quotes the whole URL, which may
		// hold a secret the user pasted by mistake.
		return nil, refuse("not a valid URL (%s)", parseProblem(err))
	}
	if u.Scheme == "" {
		return nil, refuse("the URL has no scheme; use %s", strings.Join(schemes, " or "))
	}
	// url.Parse lowercases the scheme.
	if !slices.Contains(schemes, u.Scheme) {
		return nil, refuse("scheme %q is not allowed; use %s", u.Scheme, strings.Join(schemes, " or "))
	}
	if u.Opaque != "" {
		return nil, refuse("the URL must have the form %s://host/path", u.Scheme)
	}
	if u.User != nil {
		return nil, refuse("the URL must not contain a user name or password; configure credentials separately")
	}
	if err := checkPort(u); err != nil {
		return nil, err
	}

	host := u.Hostname()
	if host == "" {
		return nil, refuse("the URL has no host")
	}
	if strings.HasPrefix(u.Host, "[") {
		if strings.Contains(host, "%") {
			return nil, refuse("IPv6 zone identifiers are not allowed")
		}
		addr, err := netip.ParseAddr(host)
		if err != nil || !addr.Is6() {
			return nil, refuse("host [%s] is not a valid IPv6 address", host)
		}
		if why := g.addrReason(addr); why != "" {
			return nil, refuse("host %s is %s", addr, why)
		}
		u.Host = joinHostPort("["+addr.String()+"]", u.Port())
		return u, nil
	}

	ascii, ok := toASCII(host)
	if !ok {
		return nil, refuse("host %q is not a valid domain name", host)
	}
	if len(ascii) > maxHostLen {
		return nil, refuse("host name is longer than %d characters", maxHostLen)
	}
	// Classify after IDNA: the mapping turns full-width digits and ideographic
	// full stops into ASCII, so "１２７。０。０。１" arrives here as 127.0.0.1.
	if addr, err := netip.ParseAddr(ascii); err == nil {
		// netip accepts only canonical dotted-quad IPv4 here (no 127.1, no
		// leading zeros), and an unbracketed IPv6 literal cannot reach this
		// point, so addr is the address every resolver would agree on.
		if why := g.addrReason(addr); why != "" {
			return nil, refuse("host %s is %s", addr, why)
		}
		u.Host = joinHostPort(addr.String(), u.Port())
		return u, nil
	}
	if why := g.nameReason(ascii); why != "" {
		return nil, refuse("host %s %s", ascii, why)
	}
	u.Host = joinHostPort(ascii, u.Port())
	return u, nil
}

// toASCII applies IDNA (UTS #46 lookup) to host and lowercases the result.
// It fails unless the result is stable: converting it again must give it
// back, so the name that is checked is the name that is later resolved.
func toASCII(host string) (string, bool) {
	if !utf8.ValidString(host) {
		return "", false
	}
	ascii, err := idna.Lookup.ToASCII(host)
	if err != nil {
		return "", false
	}
	ascii = strings.ToLower(ascii)
	again, err := idna.Lookup.ToASCII(ascii)
	if err != nil || again != ascii {
		return "", false
	}
	return ascii, true
}

// nameReason vets a host name that is not a canonical IP literal.
func (g *Guard) nameReason(name string) string {
	// A trailing dot makes a name fully qualified; it does not change what
	// it means, so it must not dodge the checks below.
	trimmed := strings.TrimSuffix(name, ".")
	labels := strings.Split(trimmed, ".")
	if slices.Contains(labels, "") {
		return "is not a valid domain name"
	}
	last := labels[len(labels)-1]
	if isDigits(last) || strings.HasPrefix(last, "0x") {
		return "looks like an IP address in a non-standard form; write it as a dotted-quad IPv4 or a bracketed IPv6 address"
	}
	if last == "localhost" && !g.loopbackTrusted() {
		// RFC 6761: localhost names are loopback by definition, whatever
		// DNS says.
		return "is a loopback name (RFC 6761)"
	}
	return ""
}

// loopbackTrusted reports whether the operator trusts loopback, which is what
// it takes for localhost names to pass the URL policy. They still go through
// the dial-time check, so localhost resolving to ::1 is refused unless ::1 is
// trusted too.
func (g *Guard) loopbackTrusted() bool {
	return g.addrReason(netip.AddrFrom4([4]byte{127, 0, 0, 1})) == "" ||
		g.addrReason(netip.IPv6Loopback()) == ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkPort applies the port rule to the port the URL will be dialled on,
// explicit or implied by its scheme.
func checkPort(u *url.URL) error {
	p := u.Port()
	if p == "" {
		if _, ok := defaultPorts[u.Scheme]; !ok {
			return refuse("the URL has no port and scheme %q has no default port", u.Scheme)
		}
		// The default ports (80, 443) are allowed.
		return nil
	}
	// url.Parse has already checked that the port is all digits.
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return refuse("port %s is not a valid port number", p)
	}
	if !portAllowed(uint16(n)) {
		return refuse("port %d is not allowed: %s", n, portRule)
	}
	return nil
}

func joinHostPort(host, port string) string {
	if port == "" {
		return host
	}
	return host + ":" + port
}

// parseProblem extracts url.Parse's complaint without the URL it quotes.
func parseProblem(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "unparseable"
	}
	switch inner := ue.Err.(type) {
	case url.EscapeError:
		return "bad percent-encoding"
	case url.InvalidHostError:
		return "invalid character in host"
	default:
		s := inner.Error()
		// Messages such as "invalid port \":x\" after host" quote only a
		// fragment; keep them, but not the full-URL quoting of url.Error.
		if len(s) > 80 {
			s = s[:80]
		}
		return s
	}
}
