package oauth

import "errors"

// Sentinel errors. Every error from this package that a caller may act on
// wraps one of them (test with [errors.Is]); the message around it says what
// was being done. Errors never carry tokens, client secrets or the path and
// query of a server URL (users paste secrets into those).
//
// A refusal by the network guard is not translated: it stays visible as
// netguard.ErrRefused through errors.Is, because callers answer it
// differently (400, never "supports_dcr: false").
var (
	// ErrNoOAuth means the server does not advertise OAuth: no protected
	// resource metadata and no authorization server metadata was found (or the
	// metadata names no authorization server). The discover endpoint answers
	// supports_dcr:false for it; a connect needs user-supplied endpoints.
	ErrNoOAuth = errors.New("the server does not advertise OAuth")

	// ErrNoPKCE means the authorization server metadata lacks
	// code_challenge_methods_supported or does not list S256. tether always
	// uses PKCE S256 (OAuth 2.1, MCP authorization) and refuses such servers.
	ErrNoPKCE = errors.New("the authorization server does not advertise PKCE S256")

	// ErrIssuerMismatch means a document does not belong to what it was
	// fetched for: the authorization server metadata's issuer differs from
	// the issuer used to fetch it (RFC 8414 §3.3), the protected resource
	// metadata's resource does not match the server URL (RFC 9728 §3.3), an
	// authorization response's iss is wrong or missing (RFC 9207), or stored
	// credentials belong to another authorization server.
	ErrIssuerMismatch = errors.New("issuer or resource mismatch")

	// ErrInvalidMetadata means a metadata document was found but is unusable:
	// a required field is missing or an endpoint URL is not an absolute
	// http(s) URL (a javascript: authorization endpoint would otherwise end
	// up in a user's browser).
	ErrInvalidMetadata = errors.New("invalid OAuth metadata")

	// ErrNoClient means no client could be obtained: no client_id was
	// supplied, a client ID metadata document is not possible, and the
	// authorization server has no registration_endpoint. The user must
	// supply an oauth_client_id.
	ErrNoClient = errors.New("no OAuth client: supply an oauth_client_id")

	// ErrRegistration means dynamic client registration (RFC 7591) failed at
	// the authorization server; the message carries its error code.
	ErrRegistration = errors.New("dynamic client registration failed")

	// ErrInvalidGrant means the token endpoint answered invalid_grant: the
	// refresh token (or authorization code) is revoked, expired or already
	// used. The connection needs a new authorization.
	ErrInvalidGrant = errors.New("the authorization server rejected the grant (invalid_grant): re-authorization needed")

	// ErrInvalidClient means the token endpoint refused tether's client
	// authentication (invalid_client, unauthorized_client): a wrong or
	// revoked client secret or key. It comes wrapped with
	// [ErrTokenEndpoint].
	ErrInvalidClient = errors.New("the authorization server refused the client's credentials")

	// ErrUnsupportedGrant means the authorization server does not offer
	// what a connection asked for: the client_credentials grant, or the
	// chosen token endpoint authentication method, is missing from its
	// metadata.
	ErrUnsupportedGrant = errors.New("the authorization server does not support this grant")

	// ErrInvalidKey means an oauth_private_key is not a PEM private key
	// tether can sign with (RSA, ECDSA P-256/P-384/P-521, Ed25519).
	ErrInvalidKey = errors.New("invalid private key")

	// ErrTokenEndpoint is any other failure answered by the token or
	// revocation endpoint; the message carries the HTTP status and the OAuth
	// error code and description.
	ErrTokenEndpoint = errors.New("token endpoint error")
)
