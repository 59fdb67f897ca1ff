-- AttemptHistory reads one tenant's attempts within a time window.
CREATE INDEX webhook_attempts_tenant_at ON webhook_attempts (tenant_id, at);
