-- Certificates, keys and ACME accounts by certmagic key ("certificates/
-- acme-v02.../app.customer.test/app.customer.test.key"), their values
-- sealed by the store's AEAD. Directories are implicit: the prefixes of
-- keys, found by the range [dir + '/', dir + '0'), which needs the
-- bytewise collation "C" whatever the database's.
CREATE TABLE autotls_items (
    key TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL,
    size BIGINT NOT NULL,
    modified TIMESTAMPTZ NOT NULL
);

-- Named locks shared by every process on the database. A lock whose
-- expires_at has passed is free: its holder died without unlocking.
-- Holders push expires_at forward while they hold it.
CREATE TABLE autotls_locks (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
