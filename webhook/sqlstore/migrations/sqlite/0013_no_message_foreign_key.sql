-- On PostgreSQL this migration drops the foreign key from deliveries to
-- their messages. SQLite cannot drop a constraint without rebuilding the
-- table, and its checks are cheap beside PostgreSQL's locking ones, so
-- it keeps it.
SELECT 1;
