-- Each lane keeps how far it is relayed (relayed_seq), so that a batch
-- relayed in order is marked by one update of its lane rather than one
-- per event. SQLite commits one writer at a time, so an event can never
-- commit behind one with a higher seq: xid is 0 on every row and
-- relayed_xmin, 1 once set, never lets a row through the late-commit
-- check that PostgreSQL needs.
ALTER TABLE events_lanes ADD COLUMN relayed_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events_lanes ADD COLUMN relayed_xmin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events_outbox ADD COLUMN xid INTEGER NOT NULL DEFAULT 0;
DROP INDEX events_outbox_pending;
DROP INDEX events_outbox_relayed;
CREATE INDEX events_outbox_lane ON events_outbox (lane, seq);
CREATE INDEX events_outbox_lane_xid ON events_outbox (lane, xid);
