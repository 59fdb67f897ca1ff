-- Each tenant's hash-chained audit trail (gdpr/audit). Rows are only
-- ever inserted; the primary key (tenant_id, seq) lets one record, and
-- no fork, follow each record. request_* are NULL for records about no
-- consumer request; details is a JSON object of strings.
CREATE TABLE gdpr_audit (
    tenant_id            TEXT NOT NULL,
    seq                  BIGINT NOT NULL,
    at                   TIMESTAMPTZ NOT NULL,
    actor                TEXT NOT NULL,
    action               TEXT NOT NULL,
    subject              TEXT NOT NULL,
    request_id           TEXT,
    request_kind         TEXT,
    request_channel      TEXT,
    request_received_at  TIMESTAMPTZ,
    request_responded_at TIMESTAMPTZ,
    request_response     TEXT,
    request_denial_basis TEXT,
    details              TEXT NOT NULL,
    prev_hash            TEXT NOT NULL,
    hash                 TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
