-- Job leases: one process runs a backup job at a time.
CREATE TABLE backup_leases (
    job    TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  TIMESTAMP NOT NULL
);
