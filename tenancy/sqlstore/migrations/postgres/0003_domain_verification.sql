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
ALTER TABLE tenancy_domains DROP CONSTRAINT tenancy_domains_pkey;
ALTER TABLE tenancy_domains
    ADD COLUMN state         TEXT NOT NULL DEFAULT 'verified',
    ADD COLUMN token         TEXT NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text),
    ADD COLUMN created_at    TIMESTAMPTZ,
    ADD COLUMN checked_at    TIMESTAMPTZ,
    ADD COLUMN next_check_at TIMESTAMPTZ,
    ADD COLUMN verified_at   TIMESTAMPTZ,
    ADD COLUMN failing_since TIMESTAMPTZ,
    ADD COLUMN reason        TEXT NOT NULL DEFAULT '',
    ADD COLUMN version       BIGINT NOT NULL DEFAULT 1;
UPDATE tenancy_domains d SET created_at = t.updated_at, verified_at = t.updated_at
FROM tenancy_tenants t WHERE t.id = d.tenant_id;
ALTER TABLE tenancy_domains
    ALTER COLUMN state DROP DEFAULT,
    ALTER COLUMN token DROP DEFAULT,
    ALTER COLUMN created_at SET NOT NULL;
ALTER TABLE tenancy_domains ADD PRIMARY KEY (tenant_id, domain);
CREATE UNIQUE INDEX tenancy_domains_serving ON tenancy_domains (domain) WHERE state IN ('verified', 'failing');
CREATE INDEX tenancy_domains_due ON tenancy_domains (next_check_at) WHERE next_check_at IS NOT NULL;
