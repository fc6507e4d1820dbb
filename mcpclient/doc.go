// Package mcpclient is the MCP client tether uses for every conversation with
// a customer's server: probing it (initialize + tools/list), calling its
// tools, and keeping a warm session per connection for the agents' calls.
//
// It builds on the official go-sdk (github.com/modelcontextprotocol/go-sdk)
// and adds what a server-side client facing untrusted servers needs:
//
//   - Transports: streamable HTTP and legacy SSE from the SDK, with the
//     fallbacks tether's API promises (http tries streamable HTTP, then SSE;
//     sse tries SSE, then streamable HTTP), a websocket transport of its own
//     (subprotocol "mcp"), and stdio for allow-listed commands only, run
//     without a shell in a scrubbed environment. The transport that worked is
//     reported, so it can be recorded on the connection.
//   - Outbound safety: every network connection goes through a
//     [netguard.Guard]; the connection's headers (with {{secrets.KEY}}
//     templates expanded) are sent only to the endpoint's own origin; no
//     secret or header value reaches a log line or an error message, nor
//     anything the server sends back (server info, tools, tool results),
//     where secrets are cut as written and as JSON escapes would decode.
//   - Limits: the connection's timeout bounds the whole connect, handshake
//     and listing, fallbacks included; every message is capped
//     (Options.MaxMessageBytes); tools/list paging is capped and stops on a
//     repeated cursor.
//   - Errors: every failure is an [*Error] whose Kind is one of the
//     registry's upstream kinds (registry.ErrUpstreamTimeout,
//     ErrUpstreamConnection, ErrUpstreamInvalid, ErrUpstreamRefused,
//     ErrUpstreamAuth, ErrUpstreamError): one taxonomy, declared by the
//     domain, with a message a user can act on ("invalid MCP response:
//     server returned HTTP 404 for POST https://mcp.example.com/mcp").
//     Results are the registry's types too: [*Client] is a registry.Prober.
//
// Tool calls over streamable HTTP skip the SDK's JSON-RPC layer: a call is
// one POST and its answer, sent and read raw through the session's own
// guarded HTTP client (rawcall.go) and decoded once with encoding/json,
// while the SDK session keeps the handshake and the server's stream. The
// request, the result object and every error are the ones the SDK's path
// gives (tests compare the two on the same answers); stdio, websocket and
// legacy SSE calls go through the SDK.
//
// [Pool] keeps one session per connection open across calls, and is a
// registry.Prober too: calls are warm, probes are cold. Sessions are keyed
// by connection id and registry.ReachKey, bounded in number (least
// recently used closed first), closed when idle, when the connection is
// edited, disabled or deleted, and on Close; a session found broken is
// replaced and the call retried once; concurrent first calls share one
// handshake. An upstream's tools/list_changed on a warm session is
// debounced and checked against the list on that session, and only a real
// change asks the registry for a re-sync.
//
// Example:
//
//	c := mcpclient.New(mcpclient.Options{Guard: guard})
//	res, err := c.Probe(ctx, &registry.Connection{
//		Transport: registry.TransportHTTP,
//		Endpoint:  "https://mcp.example.com/mcp",
//		Headers:   registry.Sensitive{"Authorization": "Bearer {{secrets.token}}"},
//		Secrets:   registry.Sensitive{"token": token},
//		TimeoutMS: 30000,
//	})
//	switch {
//	case errors.Is(err, registry.ErrUpstreamAuth):
//		// start OAuth, using err.(*mcpclient.Error).WWWAuthenticate
//	case err != nil:
//		return err
//	}
//	fmt.Println(res.Transport, len(res.Tools)) // streamable_http 12
package mcpclient
