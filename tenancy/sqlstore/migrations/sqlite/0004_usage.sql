-- Usage counters (tenancy.UsageStore): how much of a metric a tenant
-- used in one period, 'month' or 'day', that starts at period_start
-- (Unix seconds, UTC). Counters of past periods are kept: they are the
-- tenant's usage history.
CREATE TABLE tenancy_usage (
    tenant_id    TEXT NOT NULL,
    metric       TEXT NOT NULL,
    period       TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    used         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, metric, period, period_start)
) WITHOUT ROWID;
