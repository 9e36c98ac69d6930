-- Breach response (issue 6): incidents, their versioned scopes computed from the audit
-- log, the frozen set of accesses each scope found, and the notices sent from the
-- published scope. Same shape as the PostgreSQL migration.

-- An incident, numbered for people ("incident 3"). published_version is the scope the
-- patients are told about: the security status page, the API and every notice render
-- from it alone.
CREATE TABLE incidents (
    number            INTEGER PRIMARY KEY NOT NULL CHECK (number > 0),
    title             TEXT NOT NULL,
    opened_at_ns      INTEGER NOT NULL,
    opened_by         TEXT NOT NULL,
    published_version INTEGER,
    published_at_ns   INTEGER,
    -- The one notice-sending run at a time: who holds the lease and until when.
    sender_run        BLOB,
    sender_until_ns   INTEGER
) STRICT;

-- One computation of an incident's scope: the criteria (JSON), the signed checkpoint
-- whose tree the accesses are proved against, and the totals. Never changed once
-- written; widening the criteria makes the next version.
CREATE TABLE incident_scopes (
    incident       INTEGER NOT NULL REFERENCES incidents (number),
    version        INTEGER NOT NULL CHECK (version > 0),
    criteria       TEXT NOT NULL,
    computed_at_ns INTEGER NOT NULL,
    tree_size      INTEGER NOT NULL CHECK (tree_size >= 0),
    checkpoint     TEXT NOT NULL,
    accesses       INTEGER NOT NULL CHECK (accesses >= 0),
    patients       INTEGER NOT NULL CHECK (patients >= 0),
    documents      INTEGER NOT NULL CHECK (documents >= 0),
    bytes          INTEGER NOT NULL CHECK (bytes >= 0),
    PRIMARY KEY (incident, version)
) STRICT;

-- The frozen snapshot: one row per audit event a scope found (an allowed read of a
-- patient's record), with the document's type, title and date as they were when the
-- scope was computed.
CREATE TABLE incident_accesses (
    incident       INTEGER NOT NULL,
    version        INTEGER NOT NULL,
    leaf_index     INTEGER NOT NULL CHECK (leaf_index >= 0),
    access_id      BLOB NOT NULL,
    at_ns          INTEGER NOT NULL,
    action         TEXT NOT NULL,
    actor_account  BLOB,
    actor_role     TEXT NOT NULL,
    session_id     BLOB,
    address        BLOB,
    patient_id     BLOB NOT NULL,
    practice_id    BLOB NOT NULL,
    document_id    BLOB,
    document_kind  TEXT,
    document_title TEXT,
    document_at_ns INTEGER,
    bytes          INTEGER CHECK (bytes IS NULL OR bytes >= 0),
    PRIMARY KEY (incident, version, leaf_index),
    FOREIGN KEY (incident, version) REFERENCES incident_scopes (incident, version)
) STRICT;

CREATE INDEX incident_accesses_by_patient ON incident_accesses (patient_id, incident, version);

-- Notices, one per (incident, patient), never two: queued with their text rendered from
-- the published scope, claimed by a sending run, then sent. recipient is NULL when the
-- patient has no address (the practice summary lists them for a call or a letter).
CREATE TABLE incident_notices (
    incident      INTEGER NOT NULL REFERENCES incidents (number),
    patient_id    BLOB NOT NULL,
    version       INTEGER NOT NULL,
    practice_id   BLOB NOT NULL,
    recipient     TEXT,
    subject       TEXT NOT NULL,
    body          TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'no_address', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    queued_at_ns  INTEGER NOT NULL,
    sent_at_ns    INTEGER,
    PRIMARY KEY (incident, patient_id)
) STRICT;

CREATE INDEX incident_notices_by_state ON incident_notices (incident, state);

-- Scoping by session or API token.
CREATE INDEX audit_by_session ON audit_events (session_id) WHERE session_id IS NOT NULL;

-- When a credential reset was last forced: the stored password was replaced by a value
-- no password matches, so only a reset by email (or the practice) lets the owner back in.
ALTER TABLE accounts ADD COLUMN password_reset_forced_at_ns INTEGER;
