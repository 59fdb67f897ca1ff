-- The receiver's replay protection (webhook.SeenStore, Store.Seen):
-- webhook ids accepted, each until its time is up (Unix microseconds),
-- after which it counts as never seen. Ids are bytes: they come from a
-- request header. Seen.Expire deletes the rows whose time is up through
-- the index on until.
CREATE TABLE webhook_seen (
    id    BYTEA PRIMARY KEY,
    until BIGINT NOT NULL
);
CREATE INDEX webhook_seen_until ON webhook_seen (until);
