-- Each tenant's pinned API version.
CREATE TABLE versioning_pins (
    tenant_id TEXT PRIMARY KEY,
    version   TEXT NOT NULL,
    pinned_at TIMESTAMPTZ NOT NULL
);
