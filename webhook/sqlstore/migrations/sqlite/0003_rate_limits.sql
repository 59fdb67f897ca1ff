-- The shared rate limiter's schedule: per endpoint, the theoretical
-- arrival time (GCRA) of its next free slot, in Unix microseconds.
CREATE TABLE webhook_rate_limits (
    endpoint_id TEXT PRIMARY KEY,
    tat         BIGINT NOT NULL
);
