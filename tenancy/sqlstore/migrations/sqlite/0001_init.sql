CREATE TABLE tenancy_tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    plan        TEXT NOT NULL,
    region      TEXT NOT NULL,
    isolation   TEXT NOT NULL,
    dsn         TEXT NOT NULL,
    branding    TEXT NOT NULL,
    api_version TEXT NOT NULL,
    settings    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX tenancy_tenants_status ON tenancy_tenants (status, id);

CREATE TABLE tenancy_domains (
    domain    TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenancy_tenants (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL
);
CREATE INDEX tenancy_domains_tenant ON tenancy_domains (tenant_id, position);

CREATE TABLE tenancy_api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenancy_tenants (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    hash         BLOB NOT NULL,
    last4        TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);
CREATE INDEX tenancy_api_keys_tenant ON tenancy_api_keys (tenant_id, created_at, id);
