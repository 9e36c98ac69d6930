-- Breach response (issue 6): incidents, their versioned scopes computed from the audit
-- log, the frozen set of accesses each scope found, and the notices sent from the
-- published scope. Same shape as the SQLite migration.

-- An incident, numbered for people ("incident 3"). published_version is the scope the
-- patients are told about: the security status page, the API and every notice render
-- from it alone.
CREATE TABLE incidents (
    number            bigint PRIMARY KEY CHECK (number > 0),
    title             text NOT NULL,
    opened_at_ns      bigint NOT NULL,
    opened_by         text NOT NULL,
    published_version bigint,
    published_at_ns   bigint,
    -- The one notice-sending run at a time: who holds the lease and until when.
    sender_run        uuid,
    sender_until_ns   bigint
);

-- One computation of an incident's scope: the criteria (JSON), the signed checkpoint
-- whose tree the accesses are proved against, and the totals. Never changed once
-- written; widening the criteria makes the next version.
CREATE TABLE incident_scopes (
    incident       bigint NOT NULL REFERENCES incidents (number),
    version        bigint NOT NULL CHECK (version > 0),
    criteria       text NOT NULL,
    computed_at_ns bigint NOT NULL,
    tree_size      bigint NOT NULL CHECK (tree_size >= 0),
    checkpoint     text NOT NULL,
    accesses       bigint NOT NULL CHECK (accesses >= 0),
    patients       bigint NOT NULL CHECK (patients >= 0),
    documents      bigint NOT NULL CHECK (documents >= 0),
    bytes          bigint NOT NULL CHECK (bytes >= 0),
    PRIMARY KEY (incident, version)
);

-- The frozen snapshot: one row per audit event a scope found (an allowed read of a
-- patient's record), with the document's type, title and date as they were when the
-- scope was computed.
CREATE TABLE incident_accesses (
    incident       bigint NOT NULL,
    version        bigint NOT NULL,
    leaf_index     bigint NOT NULL CHECK (leaf_index >= 0),
    access_id      uuid NOT NULL,
    at_ns          bigint NOT NULL,
    action         text NOT NULL,
    actor_account  uuid,
    actor_role     text NOT NULL,
    session_id     uuid,
    address        bytea,
    patient_id     uuid NOT NULL,
    practice_id    uuid NOT NULL,
    document_id    uuid,
    document_kind  text,
    document_title text,
    document_at_ns bigint,
    bytes          bigint CHECK (bytes IS NULL OR bytes >= 0),
    PRIMARY KEY (incident, version, leaf_index),
    FOREIGN KEY (incident, version) REFERENCES incident_scopes (incident, version)
);

CREATE INDEX incident_accesses_by_patient ON incident_accesses (patient_id, incident, version);

-- Notices, one per (incident, patient), never two: queued with their text rendered from
-- the published scope, claimed by a sending run, then sent. recipient is NULL when the
-- patient has no address (the practice summary lists them for a call or a letter).
CREATE TABLE incident_notices (
    incident      bigint NOT NULL REFERENCES incidents (number),
    patient_id    uuid NOT NULL,
    version       bigint NOT NULL,
    practice_id   uuid NOT NULL,
    recipient     text,
    subject       text NOT NULL,
    body          text NOT NULL,
    state         text NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'no_address', 'failed')),
    attempts      bigint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    queued_at_ns  bigint NOT NULL,
    sent_at_ns    bigint,
    PRIMARY KEY (incident, patient_id)
);

CREATE INDEX incident_notices_by_state ON incident_notices (incident, state);

-- Scoping by session or API token.
CREATE INDEX audit_by_session ON audit_events (session_id) WHERE session_id IS NOT NULL;

-- When a credential reset was last forced: the stored password was replaced by a value
-- no password matches, so only a reset by email (or the practice) lets the owner back in.
ALTER TABLE accounts ADD COLUMN password_reset_forced_at_ns bigint;
