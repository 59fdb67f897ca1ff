-- Legal holds, one per tenant and subject key ('' for the whole
-- tenant), read by every replica before an erasure or a sweep.
CREATE TABLE gdpr_holds (
    tenant_id   TEXT NOT NULL,
    subject_key TEXT NOT NULL,
    reason      TEXT NOT NULL,
    placed_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, subject_key)
);

-- The breach register: the indexed fields beside the whole incident as
-- JSON (its timeline).
CREATE TABLE gdpr_incidents (
    id        TEXT PRIMARY KEY,
    status    TEXT NOT NULL,
    notify_by TIMESTAMPTZ NOT NULL,
    body      TEXT NOT NULL,
    version   BIGINT NOT NULL
);
CREATE INDEX gdpr_incidents_due ON gdpr_incidents (status, notify_by, id);
