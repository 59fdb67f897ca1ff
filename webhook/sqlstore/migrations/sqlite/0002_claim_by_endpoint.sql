-- Claim walks the endpoints with pending deliveries and takes each one's
-- longest-due unordered deliveries (webhook_deliveries_endpoint_due) and
-- the head of its ordered ones (webhook_deliveries_endpoint, now keyed
-- by ordered too), so its cost follows the number of endpoints, not the
-- backlog.
DROP INDEX webhook_deliveries_endpoint;
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, ordered, seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, ordered, next_at, seq) WHERE state = 'pending';
