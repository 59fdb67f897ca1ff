-- Deliveries reference their message without a foreign key: every
-- insert paid a per-row check (a locking read of the message), bulk
-- sends most of all, and nothing relies on it. Deliveries are written in
-- the transaction that writes or checks their message, and everything
-- that deletes messages (retention, subject erasure) deletes their
-- deliveries and attempts explicitly, as on SQLite.
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_tenant_id_message_id_fkey;
