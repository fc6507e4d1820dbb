package server

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/url"

	"github.com/tether-dev/tether/gen"
	"github.com/tether-dev/tether/registry"
)

// DiscoverCustomMcp reports a server's OAuth support; nothing is written.
func (s *Server) DiscoverCustomMcp(ctx context.Context, req gen.DiscoverCustomMcpRequestObject) (gen.DiscoverCustomMcpResponseObject, error) {
	d, err := s.reg.Discover(ctx, req.Body.ServerUrl)
	if err != nil {
		return featherFail[gen.DiscoverCustomMcpdefaultJSONResponse](err)
	}
	return gen.DiscoverCustomMcp200JSONResponse{
		SupportsDcr:  d.SupportsDCR,
		AuthorizeUrl: strPtr(d.AuthorizeURL),
		TokenUrl:     strPtr(d.TokenURL),
		Scopes:       append([]string{}, d.Scopes...),
	}, nil
}

// ReauthorizeConnection starts a new authorization of an OAuth connection.
func (s *Server) ReauthorizeConnection(ctx context.Context, req gen.ReauthorizeConnectionRequestObject) (gen.ReauthorizeConnectionResponseObject, error) {
	c, pending, err := s.reg.Reauthorize(ctx, tenantFrom(ctx).ID, req.ConnectionId.String())
	if err != nil {
		return featherFail[gen.ReauthorizeConnectiondefaultJSONResponse](err)
	}
	return gen.ReauthorizeConnection200JSONResponse(connectResponse(c, pending)), nil
}

func connectResponse(c *registry.Connection, pending *registry.PendingAuth) gen.CustomMcpConnectResponse {
	r := gen.CustomMcpConnectResponse{ConnectionId: uuidOf(c.ID), Status: string(c.Status), Vendor: featherVendor}
	if pending != nil {
		r.AuthorizeUrl, r.State = &pending.URL, &pending.State
	}
	return r
}

// GetClientMetadata serves tether's OAuth client ID metadata document.
func (s *Server) GetClientMetadata(ctx context.Context, _ gen.GetClientMetadataRequestObject) (gen.GetClientMetadataResponseObject, error) {
	return gen.GetClientMetadata200JSONResponse(s.clientMetadata), nil
}

// The callback page loads nothing from another origin and sends no
// referrer. Its one script, the console's oauth-return.js (same origin,
// no inline script), tells the console tab that opened the popup how the
// authorization ended — with postMessage to tether's own origin only, and
// a same-origin BroadcastChannel for when the authorization server's pages
// cut the popup off from its opener — and closes the popup.
var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}</style>
<script src="/console/oauth-return.js" defer></script>
</head><body data-outcome="{{.Outcome}}" data-connection-id="{{.ConnectionID}}" data-status="{{.Status}}"><h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>
`))

// callbackView is what the callback page shows and tells the console.
type callbackView struct {
	Title, Message string
	// Outcome is "connected", "failed" (the server refused; the row says
	// why) or "refused" (tether refused the callback: no row changed).
	Outcome, ConnectionID, Status string
}

var (
	noReferrer   = "no-referrer"
	noStore      = "no-store"
	pagePolicy   = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	callbackBody = func(v callbackView) *bytes.Buffer {
		var b bytes.Buffer
		_ = callbackPage.Execute(&b, v)
		return &b
	}
)

// OauthCallback completes an authorization (Feather's OAuth redirect). Its
// query string is never logged.
func (s *Server) OauthCallback(ctx context.Context, req gen.OauthCallbackRequestObject) (gen.OauthCallbackResponseObject, error) {
	p := req.Params
	res, err := s.reg.Callback(ctx, deref(p.State), deref(p.Code), deref(p.Iss), deref(p.Error), deref(p.ErrorDescription))
	if err != nil {
		if !errors.Is(err, registry.ErrOAuthState) {
			if _, known := classify(err); !known {
				return nil, err
			}
		}
		body := callbackBody(callbackView{Title: "Authorization not completed", Message: userMessage(err), Outcome: "refused"})
		return gen.OauthCallback400TexthtmlResponse{Body: body, ContentLength: int64(body.Len()),
			Headers: gen.OauthCallback400ResponseHeaders{ReferrerPolicy: &noReferrer, CacheControl: &noStore, ContentSecurityPolicy: &pagePolicy}}, nil
	}
	c := res.Connection
	if s.oauthReturnURL != "" {
		u, err := url.Parse(s.oauthReturnURL)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		q.Set("connection_id", c.ID)
		q.Set("status", string(c.Status))
		u.RawQuery = q.Encode()
		loc := u.String()
		return gen.OauthCallback302Response{Headers: gen.OauthCallback302ResponseHeaders{Location: &loc, ReferrerPolicy: &noReferrer}}, nil
	}
	v := callbackView{Title: "Connected", Message: "tether is now authorized to use " + c.Nickname + ". You can close this window.",
		Outcome: "connected", ConnectionID: c.ID, Status: string(c.Status)}
	if res.Err != nil {
		v.Title, v.Message, v.Outcome = "Authorization failed", res.Err.Error(), "failed"
	}
	body := callbackBody(v)
	return gen.OauthCallback200TexthtmlResponse{Body: body, ContentLength: int64(body.Len()),
		Headers: gen.OauthCallback200ResponseHeaders{ReferrerPolicy: &noReferrer, CacheControl: &noStore, ContentSecurityPolicy: &pagePolicy}}, nil
}
