package netguard

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"
)

// FuzzCheckURL looks for inputs that panic CheckURL or slip past its
// invariants: an accepted URL has an allowed scheme, no userinfo, a host that
// is not a denied IP literal nor a non-canonical numeric form, an allowed
// port, and checking it again accepts it unchanged.
//
//	go test ./netguard/ -run '^$' -fuzz FuzzCheckURL -fuzztime 60s
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/mcp",
		"http://example.com:8080/mcp",
		"wss://example.com/",
		"https://93.184.216.34/",
		"https://[2606:2800:220:1:248:1893:25c8:1946]:8443/",
		"http://127.0.0.1/",
		"http://127.1/",
		"http://2130706433/",
		"http://0x7f.1/",
		"http://0x7f000001/",
		"http://0177.0.0.1/",
		"http://127.0.0.1./",
		"http://[::1]/",
		"http://[::ffff:127.0.0.1]/",
		"http://[::ffff:7f00:1]/",
		"http://[64:ff9b::7f00:1]/",
		"http://[2002:7f00:1::]/",
		"http://[2001::1]/",
		"http://[fe80::1%25eth0]/",
		"http://169.254.169.254/latest/meta-data/",
		"http://100.64.0.1/",
		"http://localhost./",
		"http://a.localhost/",
		"https://user:pass@example.com/",
		"http://example.com@127.0.0.1/",
		"http://１２７.０.０.１/",
		"http://127。0。0。1/",
		"http://①②⑦.⓪.⓪.①/",
		"http://%EF%BC%91%EF%BC%92%EF%BC%97.0.0.1/",
		"https://bücher.example/",
		"https://xn--bcher-kva.example/",
		"https://example.com:22/",
		"https://example.com:0080/",
		"https://example.com/%zz",
		"file:///etc/passwd",
		"gopher://example.com:70/_",
		"https:example.com",
		"https:///x",
		"",
	} {
		f.Add(s)
	}
	g := New(Options{})
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := g.CheckURL(raw, HTTPSchemes)
		if err != nil {
			if u != nil {
				t.Fatalf("CheckURL(%q) returned both a URL and an error", raw)
			}
			return
		}
		if !slices.Contains(HTTPSchemes, u.Scheme) {
			t.Fatalf("CheckURL(%q) accepted scheme %q", raw, u.Scheme)
		}
		if u.User != nil {
			t.Fatalf("CheckURL(%q) accepted userinfo", raw)
		}
		host := u.Hostname()
		if host == "" {
			t.Fatalf("CheckURL(%q) accepted an empty host", raw)
		}
		if a, err := netip.ParseAddr(host); err == nil {
			if a.Zone() != "" {
				t.Fatalf("CheckURL(%q) accepted zone %q", raw, a.Zone())
			}
			if why := denyReason(a); why != "" {
				t.Fatalf("CheckURL(%q) accepted %s, which is %s", raw, a, why)
			}
		} else if why := g.nameReason(host); why != "" {
			t.Fatalf("CheckURL(%q) accepted host %q, which %s", raw, host, why)
		}
		if p := u.Port(); p != "" {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil || !portAllowed(uint16(n)) {
				t.Fatalf("CheckURL(%q) accepted port %q", raw, p)
			}
		}
		again, err := g.CheckURL(u.String(), HTTPSchemes)
		if err != nil {
			t.Fatalf("CheckURL(%q) accepted, but its result %q is refused: %v", raw, u.String(), err)
		}
		if again.Host != u.Host {
			t.Fatalf("CheckURL(%q): host %q normalises again to %q", raw, u.Host, again.Host)
		}
	})
}
