-- Agent calls now resolve slugs from the registry's in-memory catalogue;
-- nothing reads this index, and every tool write paid for it.
DROP INDEX IF EXISTS tools_tenant_slug;
