CREATE TABLE events_outbox (
	seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id TEXT NOT NULL UNIQUE,
	tenant_id TEXT NOT NULL,
	event_type TEXT NOT NULL,
	version INTEGER NOT NULL,
	aggregate_key TEXT NOT NULL,
	aggregate_seq BIGINT NOT NULL,
	subject_key TEXT NOT NULL,
	trace JSONB NOT NULL,
	payload BYTEA NOT NULL,
	occurred_at TIMESTAMPTZ NOT NULL,
	lane INTEGER NOT NULL,
	relayed_at TIMESTAMPTZ
);
CREATE INDEX events_outbox_pending ON events_outbox (lane, seq) WHERE relayed_at IS NULL;
CREATE INDEX events_outbox_subject ON events_outbox (tenant_id, subject_key);
CREATE INDEX events_outbox_relayed ON events_outbox (relayed_at) WHERE relayed_at IS NOT NULL;
CREATE TABLE events_aggregates (
	tenant_id TEXT NOT NULL,
	aggregate_key TEXT NOT NULL,
	seq BIGINT NOT NULL,
	PRIMARY KEY (tenant_id, aggregate_key)
);
CREATE TABLE events_lanes (
	lane INTEGER PRIMARY KEY,
	lease_token TEXT,
	lease_until TIMESTAMPTZ NOT NULL
);
INSERT INTO events_lanes (lane, lease_until) SELECT i, TIMESTAMPTZ '1970-01-01 00:00:00+00' FROM generate_series(0, 63) AS i;
CREATE TABLE events_inbox (
	consumer TEXT NOT NULL,
	tenant_id TEXT NOT NULL,
	aggregate_key TEXT NOT NULL,
	seq BIGINT NOT NULL,
	PRIMARY KEY (consumer, tenant_id, aggregate_key)
);
