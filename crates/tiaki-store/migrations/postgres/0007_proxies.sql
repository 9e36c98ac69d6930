-- Proxy and guardian access (issue 3): who may act for a patient, in which parts of
-- their record, until when. Same shape as the SQLite migration.

-- One grant. kind 'proxy' is granted by the patient; 'guardian' is set up by the
-- practice for a child and expires at the configured age. Each scope column is NULL
-- (not granted), 'read' or 'act'; at least one is granted. A grant ends when it
-- expires or is revoked (revoked_by is whoever ended it, or whoever replaced it with a
-- newer grant). Whether a grant allows anything is decided by the policy alone.
CREATE TABLE proxy_grants (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('proxy', 'guardian')),
    patient_id    uuid NOT NULL REFERENCES patients (id),
    grantee       uuid NOT NULL REFERENCES accounts (id),
    documents     text CHECK (documents IN ('read', 'act')),
    records       text CHECK (records IN ('read', 'act')),
    appointments  text CHECK (appointments IN ('read', 'act')),
    prescriptions text CHECK (prescriptions IN ('read', 'act')),
    messages      text CHECK (messages IN ('read', 'act')),
    created_by    uuid NOT NULL REFERENCES accounts (id),
    created_at_ns bigint NOT NULL,
    expires_at_ns bigint NOT NULL,
    revoked_at_ns bigint,
    revoked_by    uuid REFERENCES accounts (id),
    CONSTRAINT proxy_grants_some_scope CHECK (
        coalesce(documents, records, appointments, prescriptions, messages) IS NOT NULL
    ),
    CONSTRAINT proxy_grants_expire_later CHECK (expires_at_ns > created_at_ns),
    CONSTRAINT proxy_grants_revoked_by CHECK ((revoked_at_ns IS NULL) = (revoked_by IS NULL))
);

-- At most one grant in force (not revoked, expired or not) per grantee and patient: the
-- one the policy is given. A new grant for the pair ends the old one first.
CREATE UNIQUE INDEX proxy_grants_one_in_force ON proxy_grants (grantee, patient_id)
    WHERE revoked_at_ns IS NULL;

CREATE INDEX proxy_grants_by_patient ON proxy_grants (patient_id, created_at_ns);
CREATE INDEX proxy_grants_by_grantee ON proxy_grants (grantee, created_at_ns);
