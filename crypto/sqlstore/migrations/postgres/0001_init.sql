CREATE TABLE crypto_keys (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    material   BYTEA NOT NULL,
    wrapped_by BIGINT NOT NULL,
    meta       BYTEA,
    created_at TIMESTAMPTZ NOT NULL,
    version    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX crypto_keys_kind ON crypto_keys (tenant_id, kind, subject, created_at);

CREATE TABLE crypto_tombstones (
    tenant_id TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    buried_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, key_id)
);
