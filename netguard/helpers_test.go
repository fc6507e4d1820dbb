package netguard

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// testServer is an httptest server that counts the TCP connections it
// accepts, so a test can prove a refused request never reached it.
type testServer struct {
	*httptest.Server
	conns atomic.Int32
	hits  atomic.Int32
}

// startServer listens on ip (any loopback address: Linux routes all of
// 127.0.0.0/8 to lo) and serves h, counting requests. With useTLS it serves
// the httptest certificate, which is valid for 127.0.0.1 only.
func startServer(t *testing.T, ip string, useTLS bool, h http.HandlerFunc) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(t, err)
	s := &testServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if h == nil {
			_, _ = fmt.Fprint(w, "ok")
			return
		}
		h(w, r)
	}))
	require.NoError(t, s.Listener.Close())
	s.Listener = ln
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// port is the server's listening port.
func (s *testServer) port() uint16 {
	return netip.MustParseAddrPort(s.Listener.Addr().String()).Port()
}

// fakeResolver maps names to fixed addresses, standing in for DNS (and for a
// rebinding attacker's DNS).
func fakeResolver(names map[string][]string) func(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		addrs, ok := names[host]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		out := make([]netip.Addr, 0, len(addrs))
		for _, a := range addrs {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
}

func mustCIDRs(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := ParseCIDRs(s)
	require.NoError(t, err)
	return p
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}
