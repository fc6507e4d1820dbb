package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// Options configures a [Guard].
type Options struct {
	// AllowCIDRs are operator-trusted networks exempt from the address deny
	// list (the port rule still applies), e.g. loopback in development.
	AllowCIDRs []netip.Prefix
	// LookupNetIP overrides name resolution (tests inject a resolver that
	// maps a name to 127.0.0.1). nil means net.DefaultResolver.LookupNetIP.
	LookupNetIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// DialTimeout bounds connecting, across all the addresses a name
	// resolves to. 0 means 10 seconds.
	DialTimeout time.Duration
}

// defaultDialTimeout bounds connection setup when Options leave it unset: an
// unreachable address must not hold a request for the OS's minutes-long SYN
// retry schedule.
const defaultDialTimeout = 10 * time.Second

// minAttemptTimeout keeps each address of a multi-address name a fair chance
// when the dial timeout is split between them.
const minAttemptTimeout = 2 * time.Second

// Guard enforces tether's outbound network policy. Create one with [New]; it
// is safe for concurrent use.
type Guard struct {
	allow       []netip.Prefix
	lookup      func(ctx context.Context, network, host string) ([]netip.Addr, error)
	dialTimeout time.Duration
}

// New returns a Guard for opts.
func New(opts Options) *Guard {
	g := &Guard{
		allow:       make([]netip.Prefix, 0, len(opts.AllowCIDRs)),
		lookup:      opts.LookupNetIP,
		dialTimeout: opts.DialTimeout,
	}
	for _, p := range opts.AllowCIDRs {
		// Masked so a sloppy "127.0.0.1/8" still means the whole network.
		g.allow = append(g.allow, p.Masked())
	}
	if g.lookup == nil {
		g.lookup = net.DefaultResolver.LookupNetIP
	}
	if g.dialTimeout <= 0 {
		g.dialTimeout = defaultDialTimeout
	}
	return g
}

// DialContext resolves addr, then dials it with a [net.Dialer] whose Control
// re-checks every IP:port right before connect: the deny list unless the
// address is in AllowCIDRs, and the port rule. Because the check sees the
// resolved address, not the name, it holds against DNS rebinding and names
// that resolve inward. Only TCP is allowed. Refusals wrap [ErrRefused].
//
// Use it for websockets and anything that is not plain HTTP; HTTP clients get
// it through [Guard.HTTPClient].
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var lookupNet string
	switch network {
	case "tcp":
		lookupNet = "ip"
	case "tcp4":
		lookupNet = "ip4"
	case "tcp6":
		lookupNet = "ip6"
	default:
		return nil, &RefusedError{Dial: addr, Reason: fmt.Sprintf("network %q is not allowed; only TCP is", network)}
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("netguard: dial %s: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		// Named ports ("https") are not resolved: tether always has numbers.
		return nil, fmt.Errorf("netguard: dial %s: invalid port %q", addr, portStr)
	}

	ctx, cancel := context.WithTimeout(ctx, g.dialTimeout)
	defer cancel()

	var ips []netip.Addr
	named := false
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		named = true
		ips, err = g.lookup(ctx, lookupNet, host)
		if err != nil {
			return nil, fmt.Errorf("netguard: dial %s: %w", addr, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("netguard: dial %s: no addresses for %s", addr, host)
		}
	}

	d := &net.Dialer{Control: g.control}
	var first error
	for i, ip := range ips {
		attemptCtx, attemptCancel := attemptContext(ctx, len(ips)-i)
		conn, err := d.DialContext(attemptCtx, network, netip.AddrPortFrom(ip, uint16(port)).String())
		attemptCancel()
		if err == nil {
			return conn, nil
		}
		if named {
			err = g.hideResolved(err, network, addr, host, ip, uint16(port))
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// hideResolved rewrites an error from dialling an address that host
// resolved to so that it names the host as the caller gave it, never the
// address: an error must not turn tether into an oracle for internal DNS
// ("metadata.google.internal" is 169.254.169.254). A refusal is returned
// alone, naming the policy and the host (net.Dialer wraps it in a
// *net.OpError whose text starts "dial tcp <ip:port>"); any other
// *net.OpError ("connect: connection refused") names addr instead of the
// address dialled.
func (g *Guard) hideResolved(err error, network, addr, host string, ip netip.Addr, port uint16) error {
	var re *RefusedError
	if errors.As(err, &re) {
		reason := "host " + host + " resolves to an address this network policy refuses"
		switch {
		case !portAllowed(port):
			reason = fmt.Sprintf("port %d: %s", port, portRule)
		default:
			// The address as the check saw it: net dials an IPv4-mapped
			// address as IPv4.
			if ap, err := netip.ParseAddrPort(re.Dial); err == nil {
				ip = ap.Addr()
			}
			if why := g.addrReason(ip); why != "" {
				reason = "host " + host + " resolves to " + why
			}
		}
		return &RefusedError{Dial: addr, Reason: reason}
	}
	if oe, ok := err.(*net.OpError); ok && oe.Addr != nil {
		named := *oe
		named.Addr = givenAddr{network: network, addr: addr}
		return &named
	}
	return err
}

// givenAddr is a net.Addr that reads as the host:port the caller gave.
type givenAddr struct{ network, addr string }

func (a givenAddr) Network() string { return a.network }
func (a givenAddr) String() string  { return a.addr }

// attemptContext gives one of the remaining addresses its share of the time
// left, so a blackholed first address cannot use up the whole budget.
func attemptContext(ctx context.Context, remaining int) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok || remaining <= 1 {
		return context.WithCancel(ctx)
	}
	share := time.Until(deadline) / time.Duration(remaining)
	if share < minAttemptTimeout {
		share = minAttemptTimeout
	}
	return context.WithTimeout(ctx, share)
}

// control is the net.Dialer.Control hook: it runs after the socket is created
// and before connect(2), for every address of every connection, so nothing
// leaves the host for a refused address.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp4", "tcp6":
	default:
		return &RefusedError{Dial: address, Reason: fmt.Sprintf("network %q is not allowed; only TCP is", network)}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Dial: address, Reason: "not an IP:port pair"}
	}
	return g.CheckAddrPort(ap)
}
