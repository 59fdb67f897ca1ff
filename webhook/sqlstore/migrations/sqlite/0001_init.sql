-- Endpoints: the primary key is the ID alone (IDs are global, as in
-- memstore); every query also matches tenant_id.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    url             TEXT NOT NULL,
    event_types     TEXT NOT NULL, -- JSON array of strings
    secrets         TEXT NOT NULL, -- JSON array of base64 sealed secrets
    rate_limit      REAL NOT NULL,
    ordered         BOOLEAN NOT NULL,
    api_version     TEXT NOT NULL,
    disabled_reason TEXT NOT NULL,
    failing_since   TIMESTAMP,
    metadata        TEXT NOT NULL, -- JSON object
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    version         INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at, id);

-- Messages keep the payload as the exact bytes given, since the bytes
-- are what gets signed.
CREATE TABLE webhook_messages (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload    BLOB NOT NULL,
    subject    TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_messages_subject ON webhook_messages (tenant_id, subject, created_at);

-- Deliveries: SQLite allows AUTOINCREMENT only on the INTEGER PRIMARY
-- KEY, so seq is the rowid (never reused) and id is a unique key.
CREATE TABLE webhook_deliveries (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    tenant_id   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    ordered     BOOLEAN NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    next_at     TIMESTAMP NOT NULL,
    last_error  TEXT NOT NULL,
    lease_token TEXT,
    lease_until TIMESTAMP,
    updated_at  TIMESTAMP NOT NULL,
    FOREIGN KEY (tenant_id, message_id) REFERENCES webhook_messages (tenant_id, id) ON DELETE CASCADE
);
-- Claim: due pending deliveries, then the pending ones of one endpoint in
-- order (partial, so finished deliveries never slow the walk).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, id);
CREATE INDEX webhook_deliveries_message ON webhook_deliveries (tenant_id, message_id);

CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL,
    at          TIMESTAMP NOT NULL,
    status      INTEGER NOT NULL,
    latency_ns  BIGINT NOT NULL,
    error       TEXT NOT NULL,
    response    BLOB
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
