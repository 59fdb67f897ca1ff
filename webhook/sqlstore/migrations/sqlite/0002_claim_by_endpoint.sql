-- Claim walks the endpoints with pending deliveries and takes each one's
-- longest-due deliveries from this index, so its cost follows the number
-- of endpoints, not the backlog.
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_at, seq) WHERE state = 'pending';
