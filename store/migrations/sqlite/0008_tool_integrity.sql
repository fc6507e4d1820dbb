-- Tool integrity (expand only): each connection's tool policy and tool
-- prefix; each tool's annotations, definition fingerprint, approval state,
-- approved definition (while it differs from the live one) and operator
-- overrides; and the history of every distinct definition of a tool.
-- Rows written before this migration read as policy auto, approved, and
-- get their fingerprint from their stored definition.
ALTER TABLE connections ADD COLUMN tool_policy TEXT NOT NULL DEFAULT 'auto';
-- NULL: the connection's slug.
ALTER TABLE connections ADD COLUMN tool_prefix TEXT;

ALTER TABLE tools ADD COLUMN annotations TEXT;
ALTER TABLE tools ADD COLUMN definition_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE tools ADD COLUMN approval_status TEXT NOT NULL DEFAULT 'approved';
ALTER TABLE tools ADD COLUMN approved_hash TEXT NOT NULL DEFAULT '';
-- JSON {name, title, description, inputSchema, outputSchema, annotations}.
ALTER TABLE tools ADD COLUMN approved_definition TEXT;
ALTER TABLE tools ADD COLUMN rejected_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE tools ADD COLUMN breaking INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tools ADD COLUMN title_override TEXT;
ALTER TABLE tools ADD COLUMN description_override TEXT;

-- The fleet-wide count of tools awaiting a decision (a metric) reads this.
CREATE INDEX tools_awaiting_approval ON tools (approval_status)
    WHERE approval_status IN ('pending_approval', 'changed', 'held');

-- One row per distinct definition of a tool, by fingerprint; bounded per
-- tool (registry.MaxToolVersions, newest last seen kept).
CREATE TABLE tool_versions (
    tool_id       TEXT NOT NULL REFERENCES tools (id) ON DELETE CASCADE,
    tenant_id     TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    hash          TEXT NOT NULL,
    definition    TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    approved_at   TEXT,
    -- An API key id, or 'auto'.
    approved_by   TEXT NOT NULL DEFAULT '',
    rejected_at   TEXT,
    rejected_by   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tool_id, hash)
) STRICT;

CREATE INDEX tool_versions_tool_seen ON tool_versions (tool_id, last_seen_at);
