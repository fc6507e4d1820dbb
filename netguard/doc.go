// Package netguard is the one way tether reaches the network.
//
// tether connects to URLs that untrusted users register, so every outbound
// connection must be kept away from loopback, private networks, cloud metadata
// endpoints and the other special-purpose ranges in the IANA registries
// (server-side request forgery). netguard enforces that in two places:
//
//   - [Guard.CheckURL] applies the URL policy before any network I/O, so an
//     API handler can answer a bad registration with a clear 4xx at once.
//   - [Guard.DialContext] (and the [http.Client] from [Guard.HTTPClient])
//     checks the address actually dialled, in [net.Dialer.Control], on every
//     connection: redirects, retries, DNS rebinding and websocket upgrades are
//     all covered, whatever the URL check saw.
//
// Every refusal wraps [ErrRefused]; the [*RefusedError] in the chain carries a
// reason a user can act on.
//
//	g := netguard.New(netguard.Options{AllowCIDRs: trusted})
//	u, err := g.CheckURL(raw, netguard.HTTPSchemes)
//	if errors.Is(err, netguard.ErrRefused) {
//		return badRequest(err) // "netguard: refused by network policy: host 10.0.0.1 is a private address"
//	}
//	client := g.HTTPClient(netguard.ClientOptions{Credentialed: true})
//	resp, err := client.Get(u.String())
//
// The address policy builds on the prefix lists of [code.dny.dev/ssrf], with
// tether's port rule (80, 443 and anything from 1024 up) instead of that
// package's 80/443 default.
package netguard
