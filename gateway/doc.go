// Package gateway is the agent endpoint: tether's own MCP endpoint, through
// which agents call the tools of a tenant's registered MCP servers. The
// calls go through the registry, whose Prober (mcpclient's Pool in tether)
// keeps the upstream sessions warm.
//
// [Handler] serves MCP over streamable HTTP (go-sdk). A tenant, identified
// by its API key, sees one MCP server whose tools are every enabled tool of
// its enabled, active connections, named by tool slug
// ({nickname_slug}_{tool}), with the upstream's description and input
// schema minus the fields the author pinned. A persona (?persona=ID or the
// X-Persona-Id header) narrows the list to connections for that persona or
// for every persona. tools/call goes through the registry, which applies
// defaults and pins and bounds the call by the connection's timeout; any
// failure is an isError result that names its cause. The handler keeps one
// SDK server per (tenant, persona) and re-syncs it on every registry
// change, so connected agents get notifications/tools/list_changed when,
// and only when, their list changes. Session ids are bound to their view:
// no tenant can use another tenant's session. What agents make it hold is
// bounded: sessions per API key (the one idle longest closed first), views
// only while they have sessions, and a tenant's views by their estimated
// memory (sessions.go).
//
// Requests of the 2026-07-28 revision are served without sessions
// (stateless.go); their tools/call declares upstream the capabilities the
// agent declared, and passes input-required answers through with a sealed
// requestState (roundtrip.go). The tasks extension is served in front of
// the SDK as raw JSON-RPC, with sealed task handles (tasks.go).
//
// Wiring (the listeners are added once everything exists):
//
//	pool := mcpclient.NewPool(mcpclient.PoolOptions{Client: client})
//	svc := registry.NewService(registry.Options{Store: st, Prober: pool})
//	gw := gateway.New(gateway.Options{Registry: svc, Tenant: tenantOf})
//	svc.OnChange(pool.HandleChange)
//	svc.OnChange(gw.HandleChange)
//	pool.OnToolsChanged(func(ctx context.Context, tenantID, id string, tools []registry.ToolSpec) {
//		_ = svc.RecordTools(ctx, tenantID, id, tools)
//	})
//	mux.Handle("/mcp", gw)
//	// On shutdown: gw.Close(), then svc.Close(), then pool.Close().
package gateway
