package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDialContext(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "127.0.0.1", false, nil)
	port := srv.port()
	tests := []struct {
		name    string
		allow   string
		names   map[string][]string
		network string // "" means tcp
		addr    string
		reason  string // "" means the dial must succeed
	}{
		{name: "loopback refused", addr: fmt.Sprintf("127.0.0.1:%d", port), reason: "127.0.0.1 is a loopback address"},
		{name: "loopback allowed", allow: "127.0.0.0/8", addr: fmt.Sprintf("127.0.0.1:%d", port)},
		{name: "loopback allowed over tcp4", allow: "127.0.0.0/8", network: "tcp4", addr: fmt.Sprintf("127.0.0.1:%d", port)},
		{name: "allowed network, low port", allow: "127.0.0.0/8", addr: "127.0.0.1:81", reason: "port 81"},
		{name: "allowed network, port 22", allow: "127.0.0.0/8", addr: "127.0.0.1:22", reason: "port 22"},
		{name: "narrow allow list", allow: "127.0.0.2/32", addr: fmt.Sprintf("127.0.0.1:%d", port), reason: "loopback"},
		{name: "metadata", addr: "169.254.169.254:80", reason: "link-local"},
		{name: "private", addr: "10.0.0.1:8080", reason: "private"},
		{name: "v6 loopback", addr: "[::1]:8080", reason: "loopback"},
		{name: "v6 link-local with zone", addr: "[fe80::1%lo]:8080", reason: "link-local"},
		{name: "udp", network: "udp", addr: "93.184.216.34:443", reason: "only TCP"},
		{name: "unix", network: "unix", addr: "/run/docker.sock", reason: "only TCP"},
		{name: "name resolving to loopback", names: map[string][]string{"rebind.test": {"127.0.0.1"}},
			addr: fmt.Sprintf("rebind.test:%d", port), reason: "host rebind.test resolves to a loopback address"},
		{name: "name resolving to loopback, allowed", allow: "127.0.0.0/8", names: map[string][]string{"rebind.test": {"127.0.0.1"}},
			addr: fmt.Sprintf("rebind.test:%d", port)},
		{name: "name resolving to IPv4-mapped loopback", names: map[string][]string{"rebind.test": {"::ffff:127.0.0.1"}},
			addr: fmt.Sprintf("rebind.test:%d", port), reason: "loopback"},
		{name: "every address refused", names: map[string][]string{"multi.test": {"10.0.0.1", "127.0.0.1"}},
			addr: fmt.Sprintf("multi.test:%d", port), reason: "host multi.test resolves to a private address"},
		{name: "refused address skipped", allow: "127.0.0.0/8", names: map[string][]string{"multi.test": {"10.0.0.1", "127.0.0.1"}},
			addr: fmt.Sprintf("multi.test:%d", port)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := New(Options{AllowCIDRs: mustCIDRs(t, tt.allow), LookupNetIP: fakeResolver(tt.names)})
			network := tt.network
			if network == "" {
				network = "tcp"
			}
			conn, err := g.DialContext(context.Background(), network, tt.addr)
			if tt.reason == "" {
				require.NoError(t, err)
				// Prove it is a working connection to the test server.
				_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
				require.NoError(t, err)
				require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
				b, err := io.ReadAll(conn)
				require.NoError(t, err)
				assert.Contains(t, string(b), "200 OK")
				require.NoError(t, conn.Close())
				return
			}
			require.Nil(t, conn)
			require.ErrorIs(t, err, ErrRefused)
			assert.Contains(t, err.Error(), tt.reason)
		})
	}
}

func TestDialRefusalNeverConnects(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "127.0.0.1", false, nil)
	g := New(Options{})
	addr := srv.Listener.Addr().String()

	conn, err := g.DialContext(context.Background(), "tcp", addr)
	require.Nil(t, conn)
	require.ErrorIs(t, err, ErrRefused)

	// The refusal happens before connect(2), so the server sees nothing.
	var re *RefusedError
	require.True(t, errors.As(err, &re))
	assert.Equal(t, addr, re.Dial)
	assert.Contains(t, err.Error(), "dial "+addr+" refused by network policy: 127.0.0.1 is a loopback address")
	var oe *net.OpError
	assert.True(t, errors.As(err, &oe), "net.Dialer wraps Control errors in *net.OpError")
	assert.Zero(t, srv.conns.Load())
}

// A refusal names the policy and the host the caller gave, never the address
// the name resolved to: otherwise every refusal answers "what does this
// internal name resolve to?". The same holds for the other dial errors of a
// name, and through the HTTP client, whose errors quote the dial error.
func TestDialErrorsHideResolvedAddresses(t *testing.T) {
	t.Parallel()
	closed := closedPort(t)
	names := map[string][]string{
		"metadata.google.internal": {"169.254.169.254"},
		"db.corp.test":             {"10.20.30.40"},
		"v6.corp.test":             {"fd12:3456::7"},
		"mapped.corp.test":         {"::ffff:10.9.8.7"},
		"closed.corp.test":         {"127.0.0.1"},
	}
	g := New(Options{LookupNetIP: fakeResolver(names), AllowCIDRs: mustCIDRs(t, "127.0.0.0/8")})
	tests := []struct {
		name, addr, reason, hidden string
	}{
		{"metadata", "metadata.google.internal:80", "host metadata.google.internal resolves to a link-local address", "169.254.169.254"},
		{"private", "db.corp.test:5432", "host db.corp.test resolves to a private address", "10.20.30.40"},
		{"unique local v6", "v6.corp.test:443", "host v6.corp.test resolves to", "fd12:3456::7"},
		{"IPv4-mapped", "mapped.corp.test:443", "host mapped.corp.test resolves to", "10.9.8.7"},
		{"low port", "closed.corp.test:22", "port 22", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := g.DialContext(context.Background(), "tcp", tt.addr)
			require.Nil(t, conn)
			require.ErrorIs(t, err, ErrRefused)
			assert.Equal(t, "dial "+tt.addr+" refused by network policy: ", err.Error()[:len("dial "+tt.addr+" refused by network policy: ")])
			assert.Contains(t, err.Error(), tt.reason)
			assert.NotContains(t, err.Error(), tt.hidden)
			var re *RefusedError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.addr, re.Dial)
			assert.NotContains(t, re.Reason, tt.hidden)

			// Through the HTTP client too.
			_, err = g.HTTPClient(ClientOptions{}).Get("http://" + tt.addr + "/computeMetadata/v1/")
			require.ErrorIs(t, err, ErrRefused)
			assert.Contains(t, err.Error(), tt.reason)
			assert.NotContains(t, err.Error(), tt.hidden)
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		_, port, err := net.SplitHostPort(closed)
		require.NoError(t, err)
		_, err = g.DialContext(context.Background(), "tcp", "closed.corp.test:"+port)
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrRefused)
		assert.Equal(t, "dial tcp closed.corp.test:"+port+": connect: connection refused", err.Error())
		assert.True(t, errors.Is(err, syscall.ECONNREFUSED))
	})
}

func TestDialContextLookupError(t *testing.T) {
	t.Parallel()
	g := New(Options{LookupNetIP: fakeResolver(nil)})
	_, err := g.DialContext(context.Background(), "tcp", "nowhere.test:443")
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrRefused, "a DNS failure is not a policy refusal")
	var de *net.DNSError
	assert.True(t, errors.As(err, &de))
}

func TestControlRefusesUnparseable(t *testing.T) {
	t.Parallel()
	err := New(Options{}).control("tcp4", "not-an-addr", nil)
	require.ErrorIs(t, err, ErrRefused)
}
