-- Agents call tools by slug: resolve one without scanning the tenant.
CREATE INDEX tools_tenant_slug ON tools (tenant_id, slug);
