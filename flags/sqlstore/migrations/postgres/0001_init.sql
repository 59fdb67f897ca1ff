-- Flag definitions, one row per flag, shared evaluator (ring) or set
-- metadata; body is the JSON of that part of a flagd document.
CREATE TABLE flags_definitions (
    kind       TEXT NOT NULL CHECK (kind IN ('flag', 'evaluator', 'metadata')),
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);

-- One row, bumped by every change: watchers compare it, and bumping it
-- first serialises admin edits.
CREATE TABLE flags_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO flags_version (id, version) VALUES (1, 0);

-- Who changed what and when: one row per changed part.
CREATE TABLE flags_audit (
    id     BIGSERIAL PRIMARY KEY,
    at     TIMESTAMPTZ NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    kind   TEXT NOT NULL,
    name   TEXT NOT NULL,
    before TEXT,
    after  TEXT
);
CREATE INDEX flags_audit_name ON flags_audit (kind, name, id);
