-- Retention (Store.Expire) finds finished deliveries by state and age,
-- and walks the succeeded ones in order of their last change to remove
-- payloads. Pending deliveries stay out of the index, so enqueues and
-- retries never write to it.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (state, updated_at, seq) WHERE state <> 'pending';

-- How far each of Expire's walks has come: the (updated_at, seq) of the
-- last delivery it read.
CREATE TABLE webhook_retention_cursors (
    name       TEXT PRIMARY KEY,
    updated_at TIMESTAMPTZ NOT NULL,
    seq        BIGINT NOT NULL
);
