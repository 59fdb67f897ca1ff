-- Named flag sets: every part belongs to a set ('' for the document's
-- top-level flags), and a row of kind 'set' records that a named set
-- exists even while it is empty. SQLite cannot change a primary key in
-- place, so the table is rebuilt.
CREATE TABLE flags_definitions_sets (
    flag_set   TEXT NOT NULL DEFAULT '',
    kind       TEXT NOT NULL CHECK (kind IN ('flag', 'evaluator', 'metadata', 'set')),
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (flag_set, kind, name)
);
INSERT INTO flags_definitions_sets (flag_set, kind, name, body, updated_at, updated_by)
    SELECT '', kind, name, body, updated_at, updated_by FROM flags_definitions;
DROP TABLE flags_definitions;
ALTER TABLE flags_definitions_sets RENAME TO flags_definitions;

ALTER TABLE flags_audit ADD COLUMN flag_set TEXT NOT NULL DEFAULT '';
