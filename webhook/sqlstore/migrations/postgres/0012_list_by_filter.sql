-- The management API lists a tenant's deliveries a page at a time, by
-- ID, filtered by endpoint, message or dead state. Each filter has an
-- index that is also in ID order, so a page reads about its own rows
-- however long the history, and a filter that matches nothing reads
-- nothing. (Dead deliveries are few: their index is partial.)
CREATE INDEX webhook_deliveries_endpoint_id ON webhook_deliveries (endpoint_id, id);
DROP INDEX webhook_deliveries_message;
CREATE INDEX webhook_deliveries_message ON webhook_deliveries (tenant_id, message_id, id);
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (tenant_id, id) WHERE state = 'dead';
