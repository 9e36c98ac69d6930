-- Tiaki's schema for SQLite.
--
-- Representation (shared with the PostgreSQL schema, see src/codec.rs):
--   ids          16-byte BLOBs holding UUIDv7 (time-ordered, so inserts append to the index)
--   timestamps   INTEGER nanoseconds since the Unix epoch, UTC, in columns named *_ns:
--                lossless for time::OffsetDateTime, so an audit event reads back exactly
--                as it was hashed into the Merkle log
--   dates        TEXT 'YYYY-MM-DD'
--   u64 amounts  INTEGER, range-checked in Rust
--   addresses    audit events: 16-byte BLOB (IPv6; IPv4 as IPv4-mapped) so an address
--                range is a byte range; sessions: the TEXT the web edge saw
-- Tables are STRICT: a value of the wrong type is an error, not a silent coercion.
-- Names are searched through folded copies (search_*) computed in Rust, because
-- SQLite's lower() only knows ASCII.

CREATE TABLE practices (
    id     BLOB PRIMARY KEY NOT NULL,
    name   TEXT NOT NULL,
    region TEXT NOT NULL
) STRICT;

CREATE TABLE patients (
    id            BLOB PRIMARY KEY NOT NULL,
    practice_id   BLOB NOT NULL REFERENCES practices (id),
    nhi           TEXT NOT NULL,
    given_name    TEXT NOT NULL,
    family_name   TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    email         TEXT,
    created_at_ns INTEGER NOT NULL,
    search_given  TEXT NOT NULL,
    search_family TEXT NOT NULL,
    search_full   TEXT NOT NULL,
    CONSTRAINT patients_nhi_key UNIQUE (nhi)
) STRICT;

-- Search stays inside one practice: every name index leads with the practice.
CREATE INDEX patients_by_family ON patients (practice_id, search_family, search_given);
CREATE INDEX patients_by_given ON patients (practice_id, search_given);
CREATE INDEX patients_by_full ON patients (practice_id, search_full);

-- One wrapped key per patient. kek_version is indexed so a KEK rotation can find the
-- keys still wrapped by an old version.
CREATE TABLE patient_keys (
    patient_id  BLOB PRIMARY KEY NOT NULL REFERENCES patients (id),
    kek_version INTEGER NOT NULL CHECK (kek_version >= 0),
    wrapped     BLOB NOT NULL
) STRICT;

CREATE INDEX patient_keys_by_kek ON patient_keys (kek_version);

CREATE TABLE accounts (
    id            BLOB PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    kind          TEXT NOT NULL,
    patient_id    BLOB REFERENCES patients (id),
    practice_id   BLOB REFERENCES practices (id),
    role          TEXT,
    disabled      INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    created_at_ns INTEGER NOT NULL,
    CONSTRAINT accounts_username_key UNIQUE (username),
    CONSTRAINT accounts_kind_shape CHECK (
        (kind = 'patient' AND patient_id IS NOT NULL AND practice_id IS NOT NULL AND role IS NULL)
        OR (kind = 'staff' AND patient_id IS NULL AND practice_id IS NOT NULL AND role IS NOT NULL)
        OR (kind = 'operator' AND patient_id IS NULL AND practice_id IS NULL AND role IS NOT NULL)
    )
) STRICT;

CREATE INDEX accounts_by_practice ON accounts (practice_id, kind);
CREATE INDEX accounts_by_patient ON accounts (patient_id);

CREATE TABLE sessions (
    id              BLOB PRIMARY KEY NOT NULL,
    account_id      BLOB NOT NULL REFERENCES accounts (id),
    token_hash      BLOB NOT NULL CHECK (length(token_hash) = 32),
    created_at_ns   INTEGER NOT NULL,
    last_seen_at_ns INTEGER NOT NULL,
    expires_at_ns   INTEGER NOT NULL,
    revoked_at_ns   INTEGER,
    address         TEXT,
    user_agent      TEXT,
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash)
) STRICT;

-- Containment revokes every session of an account.
CREATE INDEX sessions_by_account ON sessions (account_id);

-- uploaded_by has no foreign key: an upload by an account later removed must keep its
-- provenance, and the audit log is the record of who did what.
CREATE TABLE documents (
    id            BLOB PRIMARY KEY NOT NULL,
    patient_id    BLOB NOT NULL REFERENCES patients (id),
    practice_id   BLOB NOT NULL REFERENCES practices (id),
    kind          TEXT NOT NULL,
    title         TEXT NOT NULL,
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL CHECK (size_bytes >= 0),
    created_at_ns INTEGER NOT NULL,
    uploaded_by   BLOB NOT NULL,
    blob_key      TEXT NOT NULL,
    data_key      BLOB NOT NULL,
    CONSTRAINT documents_blob_key_key UNIQUE (blob_key)
) STRICT;

CREATE INDEX documents_by_patient ON documents (patient_id, created_at_ns DESC, id DESC);
CREATE INDEX documents_by_practice ON documents (practice_id);

-- The audit log. seq is AUTOINCREMENT: strictly increasing and never reused, even
-- after the newest row is gone. No foreign keys on purpose: an event about a probe for
-- a document that does not exist must still be recorded.
CREATE TABLE audit_events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             BLOB NOT NULL,
    at_ns          INTEGER NOT NULL,
    actor_account  BLOB,
    actor_role     TEXT NOT NULL,
    actor_practice BLOB,
    session_id     BLOB,
    action         TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('allowed', 'denied', 'not_found')),
    patient_id     BLOB,
    practice_id    BLOB,
    document_id    BLOB,
    address        BLOB CHECK (address IS NULL OR length(address) = 16),
    purpose        TEXT,
    reason         TEXT,
    bytes          INTEGER CHECK (bytes IS NULL OR bytes >= 0),
    -- The event's place in the Merkle log: gapless, assigned inside the serialised
    -- append transaction. leaf_hash = SHA-256(0x00 || canonical event JSON).
    leaf_index     INTEGER NOT NULL CHECK (leaf_index >= 0),
    leaf_hash      BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    CONSTRAINT audit_events_id_key UNIQUE (id),
    CONSTRAINT audit_events_leaf_key UNIQUE (leaf_index)
) STRICT;

CREATE INDEX audit_by_patient ON audit_events (patient_id, seq) WHERE patient_id IS NOT NULL;
CREATE INDEX audit_by_actor ON audit_events (actor_account, at_ns) WHERE actor_account IS NOT NULL;
CREATE INDEX audit_by_time ON audit_events (at_ns);
-- Breach scoping asks "everything from this address range in this window".
CREATE INDEX audit_by_address ON audit_events (address, at_ns) WHERE address IS NOT NULL;

-- Append-only, enforced by the database as well as by the code.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- Signed tree heads (C2SP signed notes), one per tree size.
CREATE TABLE audit_checkpoints (
    size       INTEGER PRIMARY KEY NOT NULL CHECK (size >= 0),
    root       BLOB NOT NULL CHECK (length(root) = 32),
    note       TEXT NOT NULL,
    made_at_ns INTEGER NOT NULL
) STRICT;

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
