-- Shared rate limits (tenancy.LimitStore): per bucket key, the
-- theoretical arrival time (GCRA) of its next token, in Unix
-- microseconds. Keys are bytes: they join IDs with NUL separators. A row
-- whose tat has passed is a full bucket, the same as no row, so
-- ExpireRateLimits deletes those through the index on tat.
CREATE TABLE tenancy_rate_limits (
    key BYTEA PRIMARY KEY,
    tat BIGINT NOT NULL
);
CREATE INDEX tenancy_rate_limits_tat ON tenancy_rate_limits (tat);
