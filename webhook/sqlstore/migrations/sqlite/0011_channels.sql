-- Channels route messages within an event type: a JSON array on the
-- message, and on the endpoint the channels it takes ([]: any).
ALTER TABLE webhook_endpoints ADD COLUMN channels TEXT NOT NULL DEFAULT '[]';
ALTER TABLE webhook_messages ADD COLUMN channels TEXT NOT NULL DEFAULT '[]';
