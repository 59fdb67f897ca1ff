-- Stats counts pending deliveries by due time. A partial index serves
-- it, and a finished delivery leaves it, so completions stop writing to
-- an index of every delivery's state. (On PostgreSQL this migration
-- also leaves room on each page for claims' in-place updates.)
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_pending_due ON webhook_deliveries (next_at) WHERE state = 'pending';
