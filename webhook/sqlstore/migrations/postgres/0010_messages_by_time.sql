-- Listing a tenant's messages by time (Store.Messages, for resending and
-- replaying them) walks this index a page at a time.
CREATE INDEX webhook_messages_tenant_created ON webhook_messages (tenant_id, created_at, id);
