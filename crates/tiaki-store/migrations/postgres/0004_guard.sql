-- The guard (issue 5): counters every web node shares, the decoys no workflow opens,
-- containments with their reasons, alerts, and per-module kill switches. Same shape as
-- the SQLite migration.

-- Reads, bytes, distinct patients, refusals and misses per scope per window. A scope is
-- 'actor:<account uuid>', 'address:<ip>' or 'practice:<uuid>'. Actor rows carry the
-- practice and role so a practice's normal (the rolling baseline) can be computed.
CREATE TABLE guard_counters (
    scope           text NOT NULL,
    window_start_ns bigint NOT NULL,
    practice_id     uuid,
    role            text,
    documents       bigint NOT NULL DEFAULT 0 CHECK (documents >= 0),
    bytes           bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    patients        bigint NOT NULL DEFAULT 0 CHECK (patients >= 0),
    refusals        bigint NOT NULL DEFAULT 0 CHECK (refusals >= 0),
    misses          bigint NOT NULL DEFAULT 0 CHECK (misses >= 0),
    PRIMARY KEY (scope, window_start_ns)
);

CREATE INDEX guard_counters_baseline ON guard_counters (practice_id, role, window_start_ns);
CREATE INDEX guard_counters_by_window ON guard_counters (window_start_ns);

-- Which patients a scope has touched in a window: the distinct-patient count.
CREATE TABLE guard_seen (
    scope           text NOT NULL,
    window_start_ns bigint NOT NULL,
    patient_id      uuid NOT NULL,
    PRIMARY KEY (scope, window_start_ns, patient_id)
);

-- Decoy patients and documents. kind is 'patient' or 'document'.
CREATE TABLE guard_canaries (
    id          uuid PRIMARY KEY NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('patient', 'document')),
    practice_id uuid NOT NULL REFERENCES practices (id),
    created_at_ns bigint NOT NULL
);

-- A containment: an account frozen (sessions revoked), or an address or practice whose
-- reads are refused, until an operator releases it with a reason.
CREATE TABLE guard_containments (
    id                uuid PRIMARY KEY NOT NULL,
    scope             text NOT NULL,
    account_id        uuid REFERENCES accounts (id),
    detector          text NOT NULL,
    reason            text NOT NULL,
    created_at_ns     bigint NOT NULL,
    created_by        uuid REFERENCES accounts (id),
    released_at_ns    bigint,
    released_by       uuid REFERENCES accounts (id),
    release_reason    text,
    CHECK ((released_at_ns IS NULL) = (release_reason IS NULL))
);

CREATE INDEX guard_containments_active ON guard_containments (scope) WHERE released_at_ns IS NULL;
CREATE INDEX guard_containments_by_time ON guard_containments (created_at_ns);

-- What the guard saw and did, for the operator page and the sinks.
CREATE TABLE guard_alerts (
    id             uuid PRIMARY KEY NOT NULL,
    at_ns          bigint NOT NULL,
    severity       text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    detector       text NOT NULL,
    scope          text NOT NULL,
    account_id     uuid,
    practice_id    uuid,
    summary        text NOT NULL,
    containment_id uuid REFERENCES guard_containments (id)
);

CREATE INDEX guard_alerts_by_time ON guard_alerts (at_ns);

-- Per-module kill switches: a module absent here is open.
CREATE TABLE module_switches (
    module        text PRIMARY KEY NOT NULL,
    state         text NOT NULL CHECK (state IN ('open', 'read_only', 'closed')),
    reason        text NOT NULL,
    changed_at_ns bigint NOT NULL,
    changed_by    uuid REFERENCES accounts (id)
);
