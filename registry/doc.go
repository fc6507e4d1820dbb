// Package registry is tether's domain: connections to customer MCP servers,
// the tenants that own them and the API keys those tenants use, the rules a
// connection must satisfy, and the Service both API dialects call.
//
// The package declares the small interfaces it needs (Store, URLChecker) and
// knows nothing of HTTP, SQL or cryptography; store, secrets, netguard and
// mcpclient implement those interfaces and are wired together in cmd/tether.
//
//	svc := registry.NewService(registry.Options{Store: st, URLs: guard})
//	c, err := svc.Create(ctx, tenantID, registry.NewConnection{Slug: "my-crm-tools", ...})
package registry
