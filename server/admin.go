package server

import (
	"context"

	"github.com/tether-dev/tether/gen"
	"github.com/tether-dev/tether/registry"
)

// The operator API under /admin/v1/ (authenticateAdmin admits only the
// admin key). Errors are in the Feather shape.

// AdminListTenants lists every tenant.
func (s *Server) AdminListTenants(ctx context.Context, _ gen.AdminListTenantsRequestObject) (gen.AdminListTenantsResponseObject, error) {
	list, err := s.admin.ListTenants(ctx)
	if err != nil {
		return featherFail[gen.AdminListTenantsdefaultJSONResponse](err)
	}
	out := gen.AdminListTenants200JSONResponse{Tenants: make([]gen.Tenant, 0, len(list))}
	for _, t := range list {
		out.Tenants = append(out.Tenants, toTenant(t))
	}
	return out, nil
}

// AdminCreateTenant creates a tenant.
func (s *Server) AdminCreateTenant(ctx context.Context, req gen.AdminCreateTenantRequestObject) (gen.AdminCreateTenantResponseObject, error) {
	t, err := s.admin.CreateTenant(ctx, req.Body.Name)
	if err != nil {
		return featherFail[gen.AdminCreateTenantdefaultJSONResponse](err)
	}
	return gen.AdminCreateTenant201JSONResponse(toTenant(t)), nil
}

// AdminDeleteTenant deletes a tenant with all its rows.
func (s *Server) AdminDeleteTenant(ctx context.Context, req gen.AdminDeleteTenantRequestObject) (gen.AdminDeleteTenantResponseObject, error) {
	if err := s.admin.DeleteTenant(ctx, req.Tenant); err != nil {
		return featherFail[gen.AdminDeleteTenantdefaultJSONResponse](err)
	}
	return gen.AdminDeleteTenant204Response{}, nil
}

// AdminListKeys lists a tenant's keys.
func (s *Server) AdminListKeys(ctx context.Context, req gen.AdminListKeysRequestObject) (gen.AdminListKeysResponseObject, error) {
	keys, err := s.admin.TenantKeys(ctx, req.Tenant)
	if err != nil {
		return featherFail[gen.AdminListKeysdefaultJSONResponse](err)
	}
	out := gen.AdminListKeys200JSONResponse{Keys: make([]gen.ApiKey, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, toAPIKey(k))
	}
	return out, nil
}

// AdminCreateKey creates a key for a tenant and shows it this once.
func (s *Server) AdminCreateKey(ctx context.Context, req gen.AdminCreateKeyRequestObject) (gen.AdminCreateKeyResponseObject, error) {
	var in registry.NewKey
	if req.Body != nil {
		if req.Body.Scope != nil {
			in.Scope = registry.Scope(*req.Body.Scope)
		}
		in.ExpiresAt = req.Body.ExpiresAt
	}
	key, ak, err := s.admin.CreateTenantKey(ctx, req.Tenant, in)
	if err != nil {
		return featherFail[gen.AdminCreateKeydefaultJSONResponse](err)
	}
	return gen.AdminCreateKey201JSONResponse{Key: key, ApiKey: toAPIKey(ak)}, nil
}

// AdminRevokeKey revokes one of a tenant's keys.
func (s *Server) AdminRevokeKey(ctx context.Context, req gen.AdminRevokeKeyRequestObject) (gen.AdminRevokeKeyResponseObject, error) {
	if err := s.admin.RevokeTenantKey(ctx, req.Tenant, req.KeyId); err != nil {
		return featherFail[gen.AdminRevokeKeydefaultJSONResponse](err)
	}
	return gen.AdminRevokeKey204Response{}, nil
}

func toTenant(t *registry.Tenant) gen.Tenant {
	return gen.Tenant{Id: t.ID, Name: t.Name, CreatedAt: t.CreatedAt.UTC()}
}

func toAPIKey(k *registry.APIKey) gen.ApiKey {
	return gen.ApiKey{Id: k.ID, TenantId: k.TenantID, Prefix: k.Prefix, Scope: gen.ApiKeyScope(k.Scope),
		CreatedAt: k.CreatedAt.UTC(), ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt}
}
