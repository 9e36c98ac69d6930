-- Tiaki's schema for PostgreSQL.
--
-- Representation (shared with the SQLite schema, see src/codec.rs):
--   ids          uuid (UUIDv7: time-ordered, so inserts append to the index)
--   timestamps   bigint nanoseconds since the Unix epoch, UTC, in columns named *_ns:
--                lossless for time::OffsetDateTime (timestamptz keeps microseconds), so
--                an audit event reads back exactly as it was hashed into the Merkle log,
--                and both backends behave identically under the conformance suite
--   dates        date
--   u64 amounts  bigint, range-checked in Rust
--   addresses    audit events: 16-byte bytea (IPv6; IPv4 as IPv4-mapped) so an address
--                range is a byte range; sessions: the text the web edge saw
-- Names are searched through folded copies (search_*) computed in Rust and declared
-- COLLATE "C", so a prefix is a plain byte range a B-tree index answers.

CREATE TABLE practices (
    id     uuid PRIMARY KEY,
    name   text NOT NULL,
    region text NOT NULL
);

CREATE TABLE patients (
    id            uuid PRIMARY KEY,
    practice_id   uuid NOT NULL REFERENCES practices (id),
    nhi           text NOT NULL,
    given_name    text NOT NULL,
    family_name   text NOT NULL,
    date_of_birth date NOT NULL,
    email         text,
    created_at_ns bigint NOT NULL,
    search_given  text COLLATE "C" NOT NULL,
    search_family text COLLATE "C" NOT NULL,
    search_full   text COLLATE "C" NOT NULL,
    CONSTRAINT patients_nhi_key UNIQUE (nhi)
);

-- Search stays inside one practice: every name index leads with the practice.
CREATE INDEX patients_by_family ON patients (practice_id, search_family, search_given);
CREATE INDEX patients_by_given ON patients (practice_id, search_given);
CREATE INDEX patients_by_full ON patients (practice_id, search_full);

-- One wrapped key per patient. kek_version is indexed so a KEK rotation can find the
-- keys still wrapped by an old version.
CREATE TABLE patient_keys (
    patient_id  uuid PRIMARY KEY REFERENCES patients (id),
    kek_version bigint NOT NULL CHECK (kek_version >= 0),
    wrapped     bytea NOT NULL
);

CREATE INDEX patient_keys_by_kek ON patient_keys (kek_version);

CREATE TABLE accounts (
    id            uuid PRIMARY KEY,
    username      text NOT NULL,
    display_name  text NOT NULL,
    password_hash text NOT NULL,
    kind          text NOT NULL,
    patient_id    uuid REFERENCES patients (id),
    practice_id   uuid REFERENCES practices (id),
    role          text,
    disabled      boolean NOT NULL,
    created_at_ns bigint NOT NULL,
    CONSTRAINT accounts_username_key UNIQUE (username),
    CONSTRAINT accounts_kind_shape CHECK (
        (kind = 'patient' AND patient_id IS NOT NULL AND practice_id IS NOT NULL AND role IS NULL)
        OR (kind = 'staff' AND patient_id IS NULL AND practice_id IS NOT NULL AND role IS NOT NULL)
        OR (kind = 'operator' AND patient_id IS NULL AND practice_id IS NULL AND role IS NOT NULL)
    )
);

CREATE INDEX accounts_by_practice ON accounts (practice_id, kind);
CREATE INDEX accounts_by_patient ON accounts (patient_id);

CREATE TABLE sessions (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES accounts (id),
    token_hash      bytea NOT NULL CHECK (length(token_hash) = 32),
    created_at_ns   bigint NOT NULL,
    last_seen_at_ns bigint NOT NULL,
    expires_at_ns   bigint NOT NULL,
    revoked_at_ns   bigint,
    address         text,
    user_agent      text,
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash)
);

-- Containment revokes every session of an account.
CREATE INDEX sessions_by_account ON sessions (account_id);

-- uploaded_by has no foreign key: an upload by an account later removed must keep its
-- provenance, and the audit log is the record of who did what.
CREATE TABLE documents (
    id            uuid PRIMARY KEY,
    patient_id    uuid NOT NULL REFERENCES patients (id),
    practice_id   uuid NOT NULL REFERENCES practices (id),
    kind          text NOT NULL,
    title         text NOT NULL,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL CHECK (size_bytes >= 0),
    created_at_ns bigint NOT NULL,
    uploaded_by   uuid NOT NULL,
    blob_key      text NOT NULL,
    data_key      bytea NOT NULL,
    CONSTRAINT documents_blob_key_key UNIQUE (blob_key)
);

CREATE INDEX documents_by_patient ON documents (patient_id, created_at_ns DESC, id DESC);
CREATE INDEX documents_by_practice ON documents (practice_id);

-- The audit log. Identity values never repeat; appends take a transaction-scoped
-- advisory lock so events commit in sequence order (a reader that sees event n has
-- seen every committed event before it). No foreign keys on purpose: an event about a
-- probe for a document that does not exist must still be recorded.
CREATE TABLE audit_events (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             uuid NOT NULL,
    at_ns          bigint NOT NULL,
    actor_account  uuid,
    actor_role     text NOT NULL,
    actor_practice uuid,
    session_id     uuid,
    action         text NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('allowed', 'denied', 'not_found')),
    patient_id     uuid,
    practice_id    uuid,
    document_id    uuid,
    address        bytea CHECK (address IS NULL OR length(address) = 16),
    purpose        text,
    reason         text,
    bytes          bigint CHECK (bytes IS NULL OR bytes >= 0),
    -- The event's place in the Merkle log: gapless (identity values are not: a rolled
    -- back insert leaves a hole), assigned under the append lock.
    -- leaf_hash = SHA-256(0x00 || canonical event JSON).
    leaf_index     bigint NOT NULL CHECK (leaf_index >= 0),
    leaf_hash      bytea NOT NULL CHECK (length(leaf_hash) = 32),
    CONSTRAINT audit_events_id_key UNIQUE (id),
    CONSTRAINT audit_events_leaf_key UNIQUE (leaf_index)
);

CREATE INDEX audit_by_patient ON audit_events (patient_id, seq) WHERE patient_id IS NOT NULL;
CREATE INDEX audit_by_actor ON audit_events (actor_account, at_ns) WHERE actor_account IS NOT NULL;
CREATE INDEX audit_by_time ON audit_events (at_ns);
-- Breach scoping asks "everything from this address range in this window".
CREATE INDEX audit_by_address ON audit_events (address, at_ns) WHERE address IS NOT NULL;

-- Append-only, enforced by the database as well as by the code.
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;

CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Signed tree heads (C2SP signed notes), one per tree size.
CREATE TABLE audit_checkpoints (
    size       bigint PRIMARY KEY CHECK (size >= 0),
    root       bytea NOT NULL CHECK (length(root) = 32),
    note       text NOT NULL,
    made_at_ns bigint NOT NULL
);

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
