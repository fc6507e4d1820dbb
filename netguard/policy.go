package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"code.dny.dev/ssrf"
)

// ErrRefused is wrapped by every refusal, whether by the URL policy or at dial
// time. Callers test for it with [errors.Is]; the [*RefusedError] in the chain
// says why.
var ErrRefused = errors.New("refused by network policy")

// RefusedError is the error behind every refusal. Its Reason is written for
// the user who registered the URL, so API handlers can show it as is.
type RefusedError struct {
	// Dial is the address the caller asked to dial, as given (host:port), for
	// refusals at dial time; empty for URL policy refusals. When the host is
	// a name, neither Dial nor Reason names the address it resolved to.
	Dial string
	// Reason says what was refused and why, e.g. "host 127.0.0.1 is a loopback address".
	Reason string
}

// Error reads "netguard: refused by network policy: <reason>" for URL policy
// refusals and "dial <host:port> refused by network policy: <reason>" at dial
// time.
func (e *RefusedError) Error() string {
	if e.Dial != "" {
		return "dial " + e.Dial + " " + ErrRefused.Error() + ": " + e.Reason
	}
	return "netguard: " + ErrRefused.Error() + ": " + e.Reason
}

// Unwrap returns [ErrRefused], so errors.Is works however deeply the net and
// net/http packages wrap the refusal.
func (e *RefusedError) Unwrap() error { return ErrRefused }

func refuse(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// namedRange gives a deny-listed range a name a user recognises. The ranges
// that matter most for SSRF are named here; the rest of the IANA registries
// come from code.dny.dev/ssrf and are reported generically.
type namedRange struct {
	prefix netip.Prefix
	what   string
}

// namedRanges is checked in order, so more specific IPv6 prefixes come
// before the ranges that contain them.
var namedRanges = []namedRange{
	// IPv4.
	{netip.MustParsePrefix("0.0.0.0/8"), `a "this network" address (0.0.0.0/8)`},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address (cloud metadata lives here)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (carrier-grade NAT) address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the broadcast address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	// IPv6.
	{netip.MustParsePrefix("::/128"), "the unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("::ffff:0:0/96"), "an IPv4-mapped IPv6 address"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible IPv6 address"},
	{netip.MustParsePrefix("64:ff9b::/96"), "a NAT64 address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address"},
	{netip.MustParsePrefix("fc00::/7"), "a unique local (private) address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
	{netip.MustParsePrefix("2001::/32"), "a Teredo address"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 address"},
}

// ssrfGuardian holds the IANA special-purpose lists of code.dny.dev/ssrf, used
// as the backstop behind namedRanges. Ports and networks are tether's own rules
// (see portAllowed), so the guardian checks addresses only.
var ssrfGuardian = ssrf.New(ssrf.WithAnyPort(), ssrf.WithAnyNetwork())

// denyReason reports why addr is on the deny list ("a loopback address"), or
// "" when it is not. AllowCIDRs are not consulted here.
func denyReason(addr netip.Addr) string {
	if !addr.IsValid() {
		return "not a valid IP address"
	}
	// A zoned address never matches a netip.Prefix; drop the zone so
	// "fe80::1%eth0" is still classified as link-local.
	addr = addr.WithZone("")
	for _, r := range namedRanges {
		if r.prefix.Contains(addr) {
			return r.what
		}
	}
	if addr.Is6() && !ssrf.IPv6GlobalUnicast.Contains(addr) {
		return "an IPv6 address outside the global unicast range 2000::/3"
	}
	if ssrfGuardian.SafeAddr(addr) != nil {
		return "a special-purpose address (IANA registry)"
	}
	return ""
}

// addrReason is the address policy: "" when addr may be dialled, else why not.
// Operator-trusted AllowCIDRs win over the deny list. They are matched as
// written: an IPv4 prefix does not cover the IPv4-mapped IPv6 form of its
// addresses, so ::ffff:127.0.0.1 stays refused under 127.0.0.0/8.
func (g *Guard) addrReason(addr netip.Addr) string {
	a := addr.WithZone("")
	for _, p := range g.allow {
		if p.Contains(a) {
			return ""
		}
	}
	return denyReason(a)
}

// portAllowed is tether's port rule: the web ports and every unprivileged
// port. Ports below 1024 are where internal infrastructure (SSH, SMTP, DNS,
// databases behind inetd, ...) listens, and MCP servers have no reason to.
func portAllowed(port uint16) bool {
	return port == 80 || port == 443 || port >= 1024
}

const portRule = "only 80, 443 and 1024-65535 are allowed"

// CheckAddrPort applies the dial-time policy to one address: the deny list
// (unless the address is in AllowCIDRs) and the port rule. The error wraps
// [ErrRefused].
func (g *Guard) CheckAddrPort(ap netip.AddrPort) error {
	if !portAllowed(ap.Port()) {
		return &RefusedError{Dial: ap.String(), Reason: fmt.Sprintf("port %d: %s", ap.Port(), portRule)}
	}
	if why := g.addrReason(ap.Addr()); why != "" {
		return &RefusedError{Dial: ap.String(), Reason: fmt.Sprintf("%s is %s", ap.Addr(), why)}
	}
	return nil
}

// ParseCIDRs parses an operator's allow list such as "127.0.0.0/8, ::1/128":
// comma separated, spaces tolerated, bare IPs taken as /32 or /128. An empty
// (or all-blank) string yields nil.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("netguard: parse allowed network %q: %w", f, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("netguard: parse allowed network %q: zones are not allowed", f)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("netguard: parse allowed network %q: %w", f, err)
		}
		// Masked so "127.0.0.1/8" is stored and logged as the network it means.
		out = append(out, p.Masked())
	}
	return out, nil
}
