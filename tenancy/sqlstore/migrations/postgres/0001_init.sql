CREATE TABLE tenancy_tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    plan        TEXT NOT NULL,
    region      TEXT NOT NULL,
    isolation   TEXT NOT NULL,
    dsn         TEXT NOT NULL,
    branding    JSONB NOT NULL,
    api_version TEXT NOT NULL,
    settings    JSONB NOT NULL,
    version     BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
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
    hash         BYTEA NOT NULL,
    last4        TEXT NOT NULL,
    scopes       JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX tenancy_api_keys_tenant ON tenancy_api_keys (tenant_id, created_at, id);
