-- Purposes a tenant asks consent for.
CREATE TABLE gdpr_consent_purposes (
    tenant_id   TEXT NOT NULL,
    purpose_key TEXT NOT NULL,
    description TEXT NOT NULL,
    lifetime_ns BIGINT NOT NULL,
    revision    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, purpose_key)
);

-- Published notices, one row per version and language; never updated.
CREATE TABLE gdpr_consent_notices (
    tenant_id          TEXT NOT NULL,
    purpose_key        TEXT NOT NULL,
    version            INTEGER NOT NULL,
    language           TEXT NOT NULL,
    sha256             TEXT NOT NULL,
    body               TEXT, -- NULL when only the hash is kept
    requires_reconsent BOOLEAN NOT NULL,
    published_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, purpose_key, version, language),
    FOREIGN KEY (tenant_id, purpose_key) REFERENCES gdpr_consent_purposes (tenant_id, purpose_key)
);

-- Consent history, append-only; erasure moves a subject's rows to a
-- pseudonym.
CREATE TABLE gdpr_consent_events (
    tenant_id       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    purpose_key     TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    action          TEXT NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    notice_version  INTEGER NOT NULL,
    notice_language TEXT NOT NULL,
    notice_sha256   TEXT NOT NULL,
    expires_at      TIMESTAMPTZ,
    source          TEXT NOT NULL,
    proof           TEXT NOT NULL,
    PRIMARY KEY (tenant_id, subject, purpose_key, seq),
    FOREIGN KEY (tenant_id, purpose_key) REFERENCES gdpr_consent_purposes (tenant_id, purpose_key)
);

-- Each subject's current state per purpose: the event with the highest
-- seq, written in the transaction that appends it.
CREATE TABLE gdpr_consent_state (
    tenant_id   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    purpose_key TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    action      TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, subject, purpose_key),
    FOREIGN KEY (tenant_id, subject, purpose_key, seq)
        REFERENCES gdpr_consent_events (tenant_id, subject, purpose_key, seq) DEFERRABLE INITIALLY DEFERRED
);
