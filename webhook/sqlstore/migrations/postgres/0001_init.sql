-- IDs use the "C" collation so that ORDER BY id and keyset pagination
-- compare bytes, as memstore does, whatever the database's locale.

-- Endpoints: the primary key is the ID alone (IDs are global, as in
-- memstore); every query also matches tenant_id.
CREATE TABLE webhook_endpoints (
    id              TEXT COLLATE "C" PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    url             TEXT NOT NULL,
    event_types     JSONB NOT NULL, -- array of strings
    secrets         JSONB NOT NULL, -- array of base64 sealed secrets
    rate_limit      DOUBLE PRECISION NOT NULL,
    ordered         BOOLEAN NOT NULL,
    api_version     TEXT NOT NULL,
    disabled_reason TEXT NOT NULL,
    failing_since   TIMESTAMPTZ,
    metadata        JSONB NOT NULL, -- object
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    version         BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at, id);

-- Messages keep the payload as the exact bytes given (BYTEA, not JSONB,
-- which would reformat it), since the bytes are what gets signed.
CREATE TABLE webhook_messages (
    tenant_id  TEXT NOT NULL,
    id         TEXT COLLATE "C" NOT NULL,
    event_type TEXT NOT NULL,
    payload    BYTEA NOT NULL,
    subject    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_messages_subject ON webhook_messages (tenant_id, subject, created_at);

CREATE TABLE webhook_deliveries (
    id          TEXT COLLATE "C" PRIMARY KEY,
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    tenant_id   TEXT NOT NULL,
    message_id  TEXT COLLATE "C" NOT NULL,
    endpoint_id TEXT NOT NULL,
    ordered     BOOLEAN NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    next_at     TIMESTAMPTZ NOT NULL,
    last_error  TEXT NOT NULL,
    lease_token TEXT,
    lease_until TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (tenant_id, message_id) REFERENCES webhook_messages (tenant_id, id) ON DELETE CASCADE
);
-- Claim: due pending deliveries, then the pending ones of one endpoint in
-- order (partial, so finished deliveries never slow the walk).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, id);
CREATE INDEX webhook_deliveries_message ON webhook_deliveries (tenant_id, message_id);

CREATE TABLE webhook_attempts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id TEXT COLLATE "C" NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    status      INTEGER NOT NULL,
    latency_ns  BIGINT NOT NULL,
    error       TEXT NOT NULL,
    response    BYTEA
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
