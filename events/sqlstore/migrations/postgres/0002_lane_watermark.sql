-- Each lane keeps how far it is relayed (relayed_seq), so that a batch
-- relayed in order is marked by one update of its lane rather than one
-- per event. On PostgreSQL a transaction can commit an event behind one
-- with a higher seq, so each row records its writer's transaction ID
-- (xid), and the watermark covers only rows whose writer had finished
-- when the batch was claimed (xid below relayed_xmin); later rows below
-- it are found by their xid and marked one by one.
ALTER TABLE events_lanes ADD COLUMN relayed_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events_lanes ADD COLUMN relayed_xmin BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events_outbox ADD COLUMN xid BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events_outbox ALTER COLUMN xid SET DEFAULT (pg_current_xact_id()::text::bigint);
DROP INDEX events_outbox_pending;
DROP INDEX events_outbox_relayed;
CREATE INDEX events_outbox_lane ON events_outbox (lane, seq);
CREATE INDEX events_outbox_lane_xid ON events_outbox (lane, xid);
