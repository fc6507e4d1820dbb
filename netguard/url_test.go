package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"code.dny.dev/ssrf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckURLRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		schemes []string // nil means HTTPSchemes
		reason  string   // a fragment of the user-facing reason
	}{
		// Loopback.
		{name: "loopback v4", url: "http://127.0.0.1/", reason: "loopback"},
		{name: "loopback v4 high", url: "https://127.255.255.254:8443/", reason: "loopback"},
		{name: "loopback v6", url: "http://[::1]/", reason: "loopback"},
		{name: "loopback v6 long form", url: "http://[0:0:0:0:0:0:0:1]:8080/", reason: "loopback"},
		{name: "localhost", url: "http://localhost:8080/mcp", reason: "loopback name"},
		{name: "localhost upper case", url: "http://LOCALHOST/", reason: "loopback name"},
		{name: "localhost trailing dot", url: "http://localhost./", reason: "loopback name"},
		{name: "subdomain of localhost", url: "https://api.localhost/", reason: "loopback name"},
		// Private and otherwise internal IPv4.
		{name: "private 10/8", url: "http://10.0.0.1/", reason: "private"},
		{name: "private 172.16/12", url: "http://172.16.5.4/", reason: "private"},
		{name: "private 172.31", url: "http://172.31.255.255/", reason: "private"},
		{name: "private 192.168/16", url: "http://192.168.1.1/", reason: "private"},
		{name: "link-local", url: "http://169.254.1.1/", reason: "link-local"},
		{name: "cloud metadata", url: "http://169.254.169.254/latest/meta-data/", reason: "metadata"},
		{name: "CGNAT 100.64/10", url: "http://100.64.0.1/", reason: "carrier-grade NAT"},
		{name: "CGNAT top", url: "http://100.127.255.254/", reason: "carrier-grade NAT"},
		{name: "benchmarking 198.18/15", url: "http://198.18.0.1/", reason: "benchmarking"},
		{name: "benchmarking 198.19", url: "http://198.19.255.1/", reason: "benchmarking"},
		{name: "this network 0.0.0.0", url: "http://0.0.0.0/", reason: "this network"},
		{name: "this network 0.1.2.3", url: "http://0.1.2.3:8080/", reason: "this network"},
		{name: "multicast v4", url: "http://224.0.0.1/", reason: "multicast"},
		{name: "multicast v4 top", url: "http://239.255.255.250/", reason: "multicast"},
		{name: "broadcast", url: "http://255.255.255.255/", reason: "broadcast"},
		{name: "reserved 240/4", url: "http://240.0.0.1/", reason: "reserved"},
		{name: "documentation TEST-NET-1", url: "http://192.0.2.10/", reason: "special-purpose"},
		{name: "IETF protocol assignments", url: "http://192.0.0.8/", reason: "special-purpose"},
		{name: "6to4 relay anycast", url: "http://192.88.99.1/", reason: "special-purpose"},
		// IPv6 forms of internal addresses.
		{name: "unspecified v6", url: "http://[::]/", reason: "unspecified"},
		{name: "IPv4-mapped dotted", url: "http://[::ffff:127.0.0.1]/", reason: "IPv4-mapped"},
		{name: "IPv4-mapped hex", url: "http://[::ffff:7f00:1]/", reason: "IPv4-mapped"},
		{name: "IPv4-mapped metadata", url: "http://[::ffff:169.254.169.254]/", reason: "IPv4-mapped"},
		{name: "IPv4-mapped public", url: "http://[::ffff:93.184.216.34]/", reason: "IPv4-mapped"},
		{name: "IPv4-compatible", url: "http://[::127.0.0.1]/", reason: "IPv4-compatible"},
		{name: "NAT64", url: "http://[64:ff9b::7f00:1]/", reason: "NAT64"},
		{name: "NAT64 dotted", url: "http://[64:ff9b::10.0.0.1]/", reason: "NAT64"},
		{name: "local-use NAT64", url: "http://[64:ff9b:1::a00:1]/", reason: "NAT64"},
		{name: "6to4", url: "http://[2002:7f00:1::]/", reason: "6to4"},
		{name: "Teredo", url: "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", reason: "Teredo"},
		{name: "unique local fc00", url: "http://[fc00::1]/", reason: "unique local"},
		{name: "unique local fd00", url: "http://[fd12:3456:789a::1]/", reason: "unique local"},
		{name: "link-local v6", url: "http://[fe80::1]/", reason: "link-local"},
		{name: "site-local v6", url: "http://[fec0::1]/", reason: "site-local"},
		{name: "multicast v6", url: "http://[ff02::1]/", reason: "multicast"},
		{name: "outside 2000::/3", url: "http://[4000::1]/", reason: "global unicast"},
		{name: "documentation v6", url: "http://[2001:db8::1]/", reason: "special-purpose"},
		{name: "documentation v6 3fff", url: "http://[3fff::1]/", reason: "special-purpose"},
		{name: "zone id", url: "http://[fe80::1%25eth0]/", reason: "zone"},
		{name: "zone id on global address", url: "http://[2606:2800:220:1::1%25eth0]/", reason: "zone"},
		{name: "bracketed IPv4", url: "http://[127.0.0.1]/", reason: "not a valid URL"},
		// Numeric host tricks that C resolvers turn into addresses.
		{name: "short form 127.1", url: "http://127.1/", reason: "non-standard form"},
		{name: "short form 127.0.1", url: "http://127.0.1:8080/", reason: "non-standard form"},
		{name: "decimal integer", url: "http://2130706433/", reason: "non-standard form"},
		{name: "hex short form", url: "http://0x7f.1/", reason: "non-standard form"},
		{name: "hex integer", url: "http://0x7f000001/", reason: "non-standard form"},
		{name: "hex integer upper case", url: "http://0X7F000001/", reason: "non-standard form"},
		{name: "octal", url: "http://0177.0.0.1/", reason: "non-standard form"},
		{name: "leading zero last octet", url: "http://93.184.216.034/", reason: "non-standard form"},
		{name: "mixed hex octet", url: "http://127.0.0.0x1/", reason: "non-standard form"},
		{name: "trailing dot IPv4", url: "http://127.0.0.1./", reason: "non-standard form"},
		{name: "name ending in digits", url: "http://evil.example.123/", reason: "non-standard form"},
		{name: "percent-encoded IPv4", url: "http://127.0.0.%31/", reason: "percent-encoding"},
		// IDNA mappings that normalise to a refused form.
		{name: "full-width digits", url: "http://１２７.０.０.１/", reason: "loopback"},
		{name: "ideographic full stops", url: "http://127。0。0。1/", reason: "loopback"},
		{name: "circled digits", url: "http://①②⑦.⓪.⓪.①/", reason: "loopback"},
		{name: "full-width localhost", url: "http://ｌｏｃａｌｈｏｓｔ/", reason: "loopback name"},
		{name: "full-width metadata", url: "http://１６９.２５４.１６９.２５４/", reason: "link-local"},
		{name: "percent-encoded full-width digits", url: "http://%EF%BC%91%EF%BC%92%EF%BC%97.0.0.1/", reason: "loopback"},
		{name: "full-width hex", url: "http://０ｘ７ｆ.１/", reason: "non-standard form"},
		// Userinfo.
		{name: "user and password", url: "https://user:pass@example.com/", reason: "user name or password"},
		{name: "user only", url: "https://user@example.com/", reason: "user name or password"},
		{name: "empty userinfo", url: "https://@example.com/", reason: "user name or password"},
		{name: "userinfo hiding the host", url: "http://example.com@127.0.0.1/", reason: "user name or password"},
		// Schemes.
		{name: "file", url: "file:///etc/passwd", reason: "scheme"},
		{name: "gopher", url: "gopher://example.com:70/_", reason: "scheme"},
		{name: "ftp", url: "ftp://example.com/", reason: "scheme"},
		{name: "javascript", url: "javascript:alert(1)", reason: "scheme"},
		{name: "data", url: "data:text/plain,hi", reason: "scheme"},
		{name: "no scheme", url: "example.com/mcp", reason: "no scheme"},
		{name: "protocol-relative", url: "//example.com/mcp", reason: "no scheme"},
		{name: "ws with HTTP schemes", url: "ws://example.com/", reason: "scheme"},
		{name: "https with websocket schemes", url: "https://example.com/", schemes: WebSocketSchemes, reason: "scheme"},
		{name: "opaque https", url: "https:example.com", reason: "form"},
		// Hosts.
		{name: "empty host", url: "https:///mcp", reason: "no host"},
		{name: "empty host with port", url: "https://:8443/", reason: "no host"},
		{name: "invalid IDNA", url: "https://xn--a.example/", reason: "not a valid domain name"},
		{name: "underscore label", url: "https://bad_host.example/", reason: "not a valid domain name"},
		{name: "empty label", url: "https://a..example/", reason: "not a valid domain name"},
		{name: "invalid UTF-8", url: "http://00.0.0.0\xcb\xcb0/", reason: "not a valid domain name"},
		{name: "too long", url: "https://" + strings.Repeat("a.", 130) + "example/", reason: "longer than"},
		// Ports.
		{name: "port 22", url: "http://example.com:22/", reason: "port 22"},
		{name: "port 25", url: "https://example.com:25/", reason: "port 25"},
		{name: "port 0", url: "https://example.com:0/", reason: "port 0"},
		{name: "port 1023", url: "https://example.com:1023/", reason: "port 1023"},
		{name: "port 81", url: "http://93.184.216.34:81/", reason: "port 81"},
		{name: "port too large", url: "https://example.com:65536/", reason: "not a valid port"},
		// Malformed.
		{name: "bad percent-encoding in path", url: "https://example.com/%zz", reason: "percent-encoding"},
		{name: "bad percent-encoding in host", url: "https://exa%zzmple.com/", reason: "percent-encoding"},
		{name: "control character", url: "https://example.com/\x00", reason: "not a valid URL"},
		{name: "space in host", url: "https://exa mple.com/", reason: "not a valid URL"},
		{name: "non-numeric port", url: "https://example.com:http/", reason: "not a valid URL"},
		{name: "empty", url: "", reason: "no scheme"},
	}
	g := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			schemes := tt.schemes
			if schemes == nil {
				schemes = HTTPSchemes
			}
			u, err := g.CheckURL(tt.url, schemes)
			require.Error(t, err)
			assert.Nil(t, u)
			require.ErrorIs(t, err, ErrRefused)
			var re *RefusedError
			require.True(t, errors.As(err, &re))
			assert.Contains(t, re.Reason, tt.reason)
			assert.True(t, strings.HasPrefix(err.Error(), "netguard: refused by network policy: "), err.Error())
		})
	}
}

func TestCheckURLRefusalMessage(t *testing.T) {
	t.Parallel()
	_, err := New(Options{}).CheckURL("http://127.0.0.1/", HTTPSchemes)
	require.EqualError(t, err, "netguard: refused by network policy: host 127.0.0.1 is a loopback address")

	// The reason must not echo the rest of the URL, which may hold a secret.
	_, err = New(Options{}).CheckURL("https://example.com/%zz?token=s3cret", HTTPSchemes)
	require.ErrorIs(t, err, ErrRefused)
	assert.NotContains(t, err.Error(), "s3cret")
}

func TestCheckURLAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		url      string
		schemes  []string // nil means HTTPSchemes
		wantHost string   // u.Host after normalisation
	}{
		{name: "https name", url: "https://example.com", wantHost: "example.com"},
		{name: "http with port and path", url: "http://example.com:8080/mcp", wantHost: "example.com:8080"},
		{name: "explicit 443", url: "https://example.com:443/mcp", wantHost: "example.com:443"},
		{name: "explicit 80", url: "http://example.com:80/", wantHost: "example.com:80"},
		{name: "port 1024", url: "https://example.com:1024/", wantHost: "example.com:1024"},
		{name: "port 65535", url: "https://example.com:65535/", wantHost: "example.com:65535"},
		{name: "public IPv4", url: "https://93.184.216.34/", wantHost: "93.184.216.34"},
		{name: "public IPv6", url: "https://[2606:2800:220:1:248:1893:25c8:1946]/", wantHost: "[2606:2800:220:1:248:1893:25c8:1946]"},
		{name: "public IPv6 with port", url: "https://[2606:4700::6810:84e5]:8443/sse", wantHost: "[2606:4700::6810:84e5]:8443"},
		{name: "public IPv6 canonicalised", url: "https://[2606:4700:0000:0000:0000:0000:6810:84E5]/", wantHost: "[2606:4700::6810:84e5]"},
		{name: "upper case host", url: "HTTPS://API.Example.COM/mcp", wantHost: "api.example.com"},
		{name: "trailing dot", url: "https://example.com./", wantHost: "example.com."},
		{name: "digits inside a name", url: "https://127.0.0.1.nip.example/", wantHost: "127.0.0.1.nip.example"},
		{name: "hex-looking first label", url: "https://0x7f.example.com/", wantHost: "0x7f.example.com"},
		{name: "ws", url: "ws://example.com:8080/mcp", schemes: WebSocketSchemes, wantHost: "example.com:8080"},
		{name: "wss", url: "wss://example.com/mcp", schemes: WebSocketSchemes, wantHost: "example.com"},
		{name: "unicode host", url: "https://bücher.example/mcp", wantHost: "xn--bcher-kva.example"},
		{name: "unicode upper case", url: "https://BÜCHER.example/", wantHost: "xn--bcher-kva.example"},
		{name: "cyrillic host", url: "https://пример.испытание/", wantHost: "xn--e1afmkfd.xn--80akhbyknj4f"},
		{name: "full-width name", url: "https://ｅｘａｍｐｌｅ.com/", wantHost: "example.com"},
		{name: "punycode given", url: "https://xn--bcher-kva.example/", wantHost: "xn--bcher-kva.example"},
		{name: "query and fragment", url: "https://example.com/mcp?x=1#f", wantHost: "example.com"},
	}
	g := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			schemes := tt.schemes
			if schemes == nil {
				schemes = HTTPSchemes
			}
			u, err := g.CheckURL(tt.url, schemes)
			require.NoError(t, err)
			assert.Equal(t, tt.wantHost, u.Host)
			assert.Contains(t, schemes, u.Scheme)
			assert.Nil(t, u.User)
		})
	}
}

func TestCheckURLAllowCIDRs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		allow  string
		url    string
		reason string // "" means allowed
	}{
		{name: "loopback allowed", allow: "127.0.0.0/8", url: "http://127.0.0.1:8080/mcp"},
		{name: "loopback allowed on port 80", allow: "127.0.0.0/8", url: "http://127.0.0.2/"},
		{name: "port rule still applies", allow: "127.0.0.0/8", url: "http://127.0.0.1:22/", reason: "port 22"},
		{name: "other ranges still denied", allow: "127.0.0.0/8", url: "http://10.0.0.1/", reason: "private"},
		{name: "metadata still denied", allow: "127.0.0.0/8,10.0.0.0/8", url: "http://169.254.169.254/", reason: "link-local"},
		{name: "narrow allow", allow: "127.0.0.2/32", url: "http://127.0.0.1:8080/", reason: "loopback"},
		{name: "v6 loopback allowed", allow: "::1", url: "http://[::1]:8080/"},
		{name: "v4 allow does not cover v6 loopback", allow: "127.0.0.0/8", url: "http://[::1]:8080/", reason: "loopback"},
		{name: "v4 allow does not cover IPv4-mapped", allow: "127.0.0.0/8", url: "http://[::ffff:127.0.0.1]:8080/", reason: "IPv4-mapped"},
		{name: "private network allowed", allow: "10.1.0.0/16", url: "https://10.1.2.3/"},
		{name: "localhost with loopback trusted", allow: "127.0.0.0/8", url: "http://localhost:3000/mcp"},
		{name: "localhost with v6 loopback trusted", allow: "::1/128", url: "http://localhost:3000/mcp"},
		{name: "sub-localhost with loopback trusted", allow: "127.0.0.1", url: "http://mcp.localhost:3000/"},
		{name: "localhost without loopback trusted", allow: "10.0.0.0/8", url: "http://localhost:3000/", reason: "loopback name"},
		{name: "numeric tricks stay refused", allow: "127.0.0.0/8", url: "http://127.1:8080/", reason: "non-standard form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			allow, err := ParseCIDRs(tt.allow)
			require.NoError(t, err)
			_, err = New(Options{AllowCIDRs: allow}).CheckURL(tt.url, HTTPSchemes)
			if tt.reason == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrRefused)
			assert.Contains(t, err.Error(), tt.reason)
		})
	}
}

// The ssrf package's lists are the source of truth for the IANA registries:
// every prefix in them must be refused, at both ends.
func TestDenyListCoversSSRFLists(t *testing.T) {
	t.Parallel()
	for _, p := range append(append([]netip.Prefix{}, ssrf.IPv4DeniedPrefixes...), ssrf.IPv6DeniedPrefixes...) {
		for _, a := range []netip.Addr{p.Addr(), lastAddr(p)} {
			assert.NotEmpty(t, denyReason(a), "%s (from %s) must be denied", a, p)
		}
	}
}

func TestDenyReasonPublic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		addr string
	}{
		{name: "example.com v4", addr: "93.184.216.34"},
		{name: "just below CGNAT", addr: "100.63.255.255"},
		{name: "just above CGNAT", addr: "100.128.0.0"},
		{name: "just below 172.16/12", addr: "172.15.255.255"},
		{name: "just above 172.16/12", addr: "172.32.0.0"},
		{name: "just above benchmarking", addr: "198.20.0.0"},
		{name: "just below multicast", addr: "223.255.255.255"},
		{name: "example.com v6", addr: "2606:2800:220:1:248:1893:25c8:1946"},
		{name: "Google DNS v6", addr: "2001:4860:4860::8888"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Empty(t, denyReason(netip.MustParseAddr(tt.addr)))
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{name: "empty", in: "", want: nil},
		{name: "blank", in: " , ,", want: nil},
		{name: "one", in: "127.0.0.0/8", want: []string{"127.0.0.0/8"}},
		{name: "two with spaces", in: " 127.0.0.0/8 , ::1/128 ", want: []string{"127.0.0.0/8", "::1/128"}},
		{name: "bare IPs", in: "10.0.0.1,::1", want: []string{"10.0.0.1/32", "::1/128"}},
		{name: "host bits masked", in: "127.0.0.1/8", want: []string{"127.0.0.0/8"}},
		{name: "garbage", in: "127.0.0.0/8,nope", wantErr: true},
		{name: "bad bits", in: "10.0.0.0/33", wantErr: true},
		{name: "zone", in: "fe80::1%eth0", wantErr: true},
		{name: "short IPv4", in: "127.1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCIDRs(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			if tt.want == nil {
				assert.Nil(t, got)
				return
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			assert.Equal(t, tt.want, s)
		})
	}
}

// lastAddr is the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
