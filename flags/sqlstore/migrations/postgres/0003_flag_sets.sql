-- Named flag sets: every part belongs to a set ('' for the document's
-- top-level flags), and a row of kind 'set' records that a named set
-- exists even while it is empty.
ALTER TABLE flags_definitions ADD COLUMN flag_set TEXT NOT NULL DEFAULT '';
ALTER TABLE flags_definitions DROP CONSTRAINT flags_definitions_pkey;
ALTER TABLE flags_definitions ADD PRIMARY KEY (flag_set, kind, name);
ALTER TABLE flags_definitions DROP CONSTRAINT flags_definitions_kind_check;
ALTER TABLE flags_definitions ADD CONSTRAINT flags_definitions_kind_check
    CHECK (kind IN ('flag', 'evaluator', 'metadata', 'set'));

ALTER TABLE flags_audit ADD COLUMN flag_set TEXT NOT NULL DEFAULT '';
