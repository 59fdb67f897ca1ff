-- Custom-domain verification. A row is now a tenant's claim on a domain
-- and where its verification stands: several tenants may claim one
-- domain (pending), but only one claim may serve it (verified or
-- failing), which the partial unique index enforces.
--
-- Existing domains were set by an operator and served before
-- verification existed: they become verified, with a fresh token and no
-- scheduled re-check (next_check_at NULL), so an upgrade does not stop
-- serving them. Set tenancy.DomainOptions.RequireVerification so that
-- new domains go through verification.
CREATE TABLE tenancy_domains_v3 (
    tenant_id     TEXT NOT NULL REFERENCES tenancy_tenants (id) ON DELETE CASCADE,
    domain        TEXT NOT NULL,
    position      INTEGER NOT NULL,
    state         TEXT NOT NULL,
    token         TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    checked_at    TIMESTAMP,
    next_check_at TIMESTAMP,
    verified_at   TIMESTAMP,
    failing_since TIMESTAMP,
    reason        TEXT NOT NULL DEFAULT '',
    version       INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, domain)
);
INSERT INTO tenancy_domains_v3 (tenant_id, domain, position, state, token, created_at, verified_at)
SELECT d.tenant_id, d.domain, d.position, 'verified', lower(hex(randomblob(16))), t.updated_at, t.updated_at
FROM tenancy_domains d JOIN tenancy_tenants t ON t.id = d.tenant_id;
DROP TABLE tenancy_domains;
ALTER TABLE tenancy_domains_v3 RENAME TO tenancy_domains;
CREATE UNIQUE INDEX tenancy_domains_serving ON tenancy_domains (domain) WHERE state IN ('verified', 'failing');
CREATE INDEX tenancy_domains_due ON tenancy_domains (next_check_at) WHERE next_check_at IS NOT NULL;
