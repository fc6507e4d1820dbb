// Package registry is tether's domain: connections to customer MCP servers,
// the tenants that own them and the API keys those tenants use, the rules a
// connection must satisfy, and the Service both API dialects call.
//
// The package declares the small interfaces it needs (Store, URLChecker) and
// knows nothing of HTTP, SQL or cryptography; store, secrets, netguard and
// mcpclient implement those interfaces and are wired together in cmd/tether.
//
// Every change made through the API or the CLI is audited in the same
// transaction as the change: the service records an AuditEvent on an
// AuditTrail carried by the context it passes to the store (as the Actor
// the context names: the server sets the authenticated key, the CLI
// ActorCLI), and the store's write transaction inserts what the trail
// holds before committing, or drops it with a failed change (audit.go).
//
//	svc := registry.NewService(registry.Options{Store: st, URLs: guard})
//	c, err := svc.Create(ctx, tenantID, registry.NewConnection{Slug: "my-crm-tools", ...})
package registry
