// Package oauth is tether's OAuth 2.1 client toward customers' MCP servers,
// following the MCP authorization specification (2025-11-25): discovery
// (RFC 9728 protected resource metadata, RFC 8414 and OpenID Connect
// authorization server metadata), client registration (a supplied client,
// a client ID metadata document, or RFC 7591 dynamic registration), the PKCE
// S256 authorization request with RFC 8707 resource indicators, the RFC 9207
// issuer check on the callback, code exchange, refresh with rotation, and
// RFC 7009 revocation. Beside those: the 2025-03-26 default endpoints for
// servers that publish no metadata ([FallbackDiscovery]), step-up
// authorization ([StepUpScopes], [AccumulateScopes]: an insufficient_scope
// challenge widens the next authorization, SEP-2350), and the
// client_credentials grant for machine-to-machine connections
// ([Client.ClientCredentials]) with client_secret_basic,
// client_secret_post or private_key_jwt (RFC 7523) client authentication.
//
// Unlike the go-sdk's auth.AuthorizationCodeHandler, which blocks an MCP
// request until a browser returns, the flow here is split across an API
// server's requests: [Client.Discover] and [Client.Register] when a
// connection is created, [AuthorizeURL] for the authorize_url the user
// opens, [CheckIss] and [Client.Exchange] when the callback lands, and
// [Client.Refresh] whenever the access token is about to expire. Everything
// in between ([Discovery], [Credentials], [Token]) is plain data that
// round-trips through JSON for storage; the secrets in it must be encrypted
// at rest, and its String and LogValue methods redact them.
//
// Every request goes through the *http.Client in [Options], in production
// the SSRF-guarded client from netguard; a refusal by the guard stays
// visible through errors.Is(err, netguard.ErrRefused). Response bodies are
// capped, and tokens, secrets and the path or query of a server URL never
// appear in error messages.
//
// Example:
//
//	oc := oauth.New(oauth.Options{HTTPClient: guard.HTTPClient(netguard.ClientOptions{Timeout: 30 * time.Second})})
//	d, err := oc.Discover(ctx, serverURL)
//	if errors.Is(err, oauth.ErrNoOAuth) {
//		// supports_dcr: false; the user must supply endpoints and a client_id
//	}
//	cr, err := oc.Register(ctx, d, oauth.RegisterRequest{RedirectURI: callback, ClientMetadataURL: cimdURL})
//	ar, err := oauth.AuthorizeURL(d, cr, callback, d.Scopes(userScopes))
//	// store ar.State, ar.Verifier, d and cr; send the user to ar.URL. Later, at the callback:
//	if err := oauth.CheckIss(d, r.URL.Query().Get("iss")); err != nil { ... }
//	tok, err := oc.Exchange(ctx, d, cr, code, ar.Verifier, callback)
//	// and before each use:
//	if tok.NeedsRefresh(time.Now(), time.Minute) {
//		tok, err = oc.Refresh(ctx, d, cr, tok.RefreshToken) // errors.Is(err, oauth.ErrInvalidGrant): re-authorize
//	}
package oauth
