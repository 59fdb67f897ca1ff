-- Attempts record the headers sent and received (JSON objects, with
-- credentials redacted), and their endpoint, so an endpoint's history
-- is read through its own index rather than through its deliveries.
ALTER TABLE webhook_attempts ADD COLUMN endpoint_id TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_attempts ADD COLUMN request_headers TEXT NOT NULL DEFAULT '{}';
ALTER TABLE webhook_attempts ADD COLUMN response_headers TEXT NOT NULL DEFAULT '{}';
UPDATE webhook_attempts SET endpoint_id = COALESCE((SELECT d.endpoint_id FROM webhook_deliveries d WHERE d.id = webhook_attempts.delivery_id), '');
CREATE INDEX webhook_attempts_endpoint_at ON webhook_attempts (endpoint_id, at);
