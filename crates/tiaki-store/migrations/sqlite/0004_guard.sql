-- The guard (issue 5): counters every web node shares, the decoys no workflow opens,
-- containments with their reasons, alerts, and per-module kill switches. Same shape as
-- the PostgreSQL migration.

-- Reads, bytes, distinct patients, refusals and misses per scope per window. A scope is
-- 'actor:<account uuid>', 'address:<ip>' or 'practice:<uuid>'. Actor rows carry the
-- practice and role so a practice's normal (the rolling baseline) can be computed.
CREATE TABLE guard_counters (
    scope           TEXT NOT NULL,
    window_start_ns INTEGER NOT NULL,
    practice_id     BLOB,
    role            TEXT,
    documents       INTEGER NOT NULL DEFAULT 0 CHECK (documents >= 0),
    bytes           INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    patients        INTEGER NOT NULL DEFAULT 0 CHECK (patients >= 0),
    refusals        INTEGER NOT NULL DEFAULT 0 CHECK (refusals >= 0),
    misses          INTEGER NOT NULL DEFAULT 0 CHECK (misses >= 0),
    PRIMARY KEY (scope, window_start_ns)
) STRICT;

CREATE INDEX guard_counters_baseline ON guard_counters (practice_id, role, window_start_ns);
CREATE INDEX guard_counters_by_window ON guard_counters (window_start_ns);

-- Which patients a scope has touched in a window: the distinct-patient count.
CREATE TABLE guard_seen (
    scope           TEXT NOT NULL,
    window_start_ns INTEGER NOT NULL,
    patient_id      BLOB NOT NULL,
    PRIMARY KEY (scope, window_start_ns, patient_id)
) STRICT;

-- Decoy patients and documents. kind is 'patient' or 'document'.
CREATE TABLE guard_canaries (
    id          BLOB PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('patient', 'document')),
    practice_id BLOB NOT NULL REFERENCES practices (id),
    created_at_ns INTEGER NOT NULL
) STRICT;

-- A containment: an account frozen (sessions revoked), or an address or practice whose
-- reads are refused, until an operator releases it with a reason.
CREATE TABLE guard_containments (
    id                BLOB PRIMARY KEY NOT NULL,
    scope             TEXT NOT NULL,
    account_id        BLOB REFERENCES accounts (id),
    detector          TEXT NOT NULL,
    reason            TEXT NOT NULL,
    created_at_ns     INTEGER NOT NULL,
    created_by        BLOB REFERENCES accounts (id),
    released_at_ns    INTEGER,
    released_by       BLOB REFERENCES accounts (id),
    release_reason    TEXT,
    CHECK ((released_at_ns IS NULL) = (release_reason IS NULL))
) STRICT;

CREATE INDEX guard_containments_active ON guard_containments (scope) WHERE released_at_ns IS NULL;
CREATE INDEX guard_containments_by_time ON guard_containments (created_at_ns);

-- What the guard saw and did, for the operator page and the sinks.
CREATE TABLE guard_alerts (
    id             BLOB PRIMARY KEY NOT NULL,
    at_ns          INTEGER NOT NULL,
    severity       TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    detector       TEXT NOT NULL,
    scope          TEXT NOT NULL,
    account_id     BLOB,
    practice_id    BLOB,
    summary        TEXT NOT NULL,
    containment_id BLOB REFERENCES guard_containments (id)
) STRICT;

CREATE INDEX guard_alerts_by_time ON guard_alerts (at_ns);

-- Per-module kill switches: a module absent here is open.
CREATE TABLE module_switches (
    module        TEXT PRIMARY KEY NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('open', 'read_only', 'closed')),
    reason        TEXT NOT NULL,
    changed_at_ns INTEGER NOT NULL,
    changed_by    BLOB REFERENCES accounts (id)
) STRICT;
