-- How often each flag served each variant, per day (UTC midnight), and
-- when it last did: the stale-flag report reads it. Every replica adds
-- its counts to the same rows.
CREATE TABLE flags_usage (
    flag        TEXT NOT NULL,
    variant     TEXT NOT NULL,
    day         TIMESTAMP NOT NULL,
    evaluations BIGINT NOT NULL,
    last_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (flag, variant, day)
);
