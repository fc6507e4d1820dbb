package registry

import (
	"context"
	"strings"
)

// The operator's side of Keys: tenants and their keys, as the admin API
// (/admin/v1/) manages them. Tenants are named by id or name.

// CreateTenant creates a tenant; a taken name is ErrNameExists. It is an
// operator event (tenant.created, no tenant).
func (k *Keys) CreateTenant(ctx context.Context, name string) (*Tenant, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, errorf(ErrValidation, "a tenant name must be 1 to 200 characters")
	}
	t := &Tenant{ID: newUUID(), Name: name, CreatedAt: k.now()}
	ctx, au := auditing(ctx, "", k.now)
	au.record(ActionTenantCreated, t.ID, "", Changes{"name": {To: t.Name}})
	if err := k.store.CreateTenant(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// ListTenants lists every tenant, oldest first.
func (k *Keys) ListTenants(ctx context.Context) ([]*Tenant, error) { return k.store.ListTenants(ctx) }

// Tenant finds a tenant by id or name.
func (k *Keys) Tenant(ctx context.Context, idOrName string) (*Tenant, error) {
	return k.store.GetTenant(ctx, idOrName)
}

// DeleteTenant deletes a tenant with every row it owns, its keys (refused
// from the next request on) and its audit events included; the deletion
// itself is an operator event (tenant.deleted), which outlives it.
func (k *Keys) DeleteTenant(ctx context.Context, idOrName string) error {
	t, err := k.store.GetTenant(ctx, idOrName)
	if err != nil {
		return err
	}
	ctx, au := auditing(ctx, "", k.now)
	au.record(ActionTenantDeleted, t.ID, "", Changes{"name": {From: t.Name, To: nil}})
	conns, err := k.store.DeleteTenant(ctx, t.ID)
	k.forget()
	if err != nil {
		return err
	}
	for _, fn := range k.onTenantDeleted {
		fn(conns)
	}
	return nil
}

// TenantKeys lists one tenant's keys.
func (k *Keys) TenantKeys(ctx context.Context, idOrName string) ([]*APIKey, error) {
	t, err := k.store.GetTenant(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	return k.store.ListAPIKeys(ctx, t.ID)
}

// CreateTenantKey makes a key for an existing tenant (ErrNotFound when
// there is none) and returns it; it is never shown again.
func (k *Keys) CreateTenantKey(ctx context.Context, idOrName string, in NewKey) (string, *APIKey, error) {
	t, err := k.store.GetTenant(ctx, idOrName)
	if err != nil {
		return "", nil, err
	}
	if err := k.checkNewKey(&in); err != nil {
		return "", nil, err
	}
	key := newKeyString()
	ak, err := k.insert(ctx, t, key, in)
	return key, ak, err
}

// RevokeTenantKey revokes one of a tenant's keys by id; another tenant's
// key is ErrNotFound.
func (k *Keys) RevokeTenantKey(ctx context.Context, idOrName, keyID string) error {
	t, err := k.store.GetTenant(ctx, idOrName)
	if err != nil {
		return err
	}
	ak, err := k.store.GetAPIKey(ctx, keyID)
	if err != nil || ak.TenantID != t.ID || ak.ID != keyID {
		return errorf(ErrNotFound, "tenant %q has no API key %q", t.Name, keyID)
	}
	return k.revoke(ctx, ak)
}
