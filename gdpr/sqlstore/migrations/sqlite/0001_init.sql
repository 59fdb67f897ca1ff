-- Data-subject requests: the indexed fields beside the whole request as
-- JSON (its steps are the erasure's checkpoints).
CREATE TABLE gdpr_requests (
    id        TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    state     TEXT NOT NULL,
    due_at    TIMESTAMP NOT NULL,
    body      TEXT NOT NULL,
    version   INTEGER NOT NULL
);
CREATE INDEX gdpr_requests_due ON gdpr_requests (tenant_id, due_at, id);
