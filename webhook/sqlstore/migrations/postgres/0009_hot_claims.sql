-- A claim changes only a delivery's lease, which no index covers. With
-- room left on each page, PostgreSQL then writes the new row version
-- beside the old one (a HOT update) instead of adding an entry to each
-- of the table's indexes. Completions change the state and still update
-- the indexes.
ALTER TABLE webhook_deliveries SET (fillfactor = 70);

-- Stats counts pending deliveries by due time. A partial index serves
-- it, and a finished delivery leaves it, so completions stop writing to
-- an index of every delivery's state.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_pending_due ON webhook_deliveries (next_at) WHERE state = 'pending';
