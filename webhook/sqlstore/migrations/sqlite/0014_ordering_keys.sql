-- Ordering keys: an ordered endpoint holds a message only behind earlier
-- ones with the same key. The key is kept on the message and copied to
-- its deliveries, where Claim finds the head of each (endpoint, key)
-- sequence with a loose scan of webhook_deliveries_ordered: one index
-- seek per sequence with pending deliveries, whatever their number.
ALTER TABLE webhook_messages ADD COLUMN ordering_key TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_deliveries ADD COLUMN ordering_key TEXT NOT NULL DEFAULT '';
CREATE INDEX webhook_deliveries_ordered ON webhook_deliveries (endpoint_id, ordering_key, seq) WHERE state = 'pending' AND ordered = TRUE;
