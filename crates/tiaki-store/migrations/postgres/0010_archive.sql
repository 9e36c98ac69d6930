-- Retention, the cold archive and crypto-shredding. Same shape as the SQLite migration.

-- A document's state. 'online': its data key is wrapped by the patient key (data_key).
-- 'archived': the data key is sealed to the offline archive key (document_archive) and
-- the online copy is gone. 'erased': the patient's key was destroyed (crypto-shredding)
-- and the ciphertext is swept. Only an online document has a wrapped key on its row.
ALTER TABLE documents ADD COLUMN state text NOT NULL DEFAULT 'online',
    ADD CONSTRAINT documents_state CHECK (
        state IN ('online', 'archived', 'erased')
        AND (state = 'online') = (length(data_key) > 0)
    );

-- Finding what a retention rule makes due: online documents of a kind, oldest first.
CREATE INDEX documents_online_by_kind ON documents (kind, created_at_ns, id)
    WHERE state = 'online';

-- One archived document's data key, sealed (HPKE, X25519) to the archive public key
-- named here. Useless online: only the offline private key opens it.
CREATE TABLE document_archive (
    document_id    uuid PRIMARY KEY REFERENCES documents (id),
    patient_id     uuid NOT NULL REFERENCES patients (id),
    archive_key    bytea NOT NULL CHECK (length(archive_key) = 32),
    sealed_key     bytea NOT NULL CHECK (length(sealed_key) = 81),
    rule           text NOT NULL,
    archived_at_ns bigint NOT NULL
);

CREATE INDEX document_archive_by_patient ON document_archive (patient_id);

-- A request to bring an archived document back online, made by whoever may read it
-- (the patient, a proxy, their practice). Resolved when it is restored, or when the
-- patient's record is erased.
CREATE TABLE retrieval_requests (
    id              uuid PRIMARY KEY,
    document_id     uuid NOT NULL REFERENCES documents (id),
    patient_id      uuid NOT NULL REFERENCES patients (id),
    practice_id     uuid NOT NULL REFERENCES practices (id),
    requested_by    uuid NOT NULL REFERENCES accounts (id),
    requested_at_ns bigint NOT NULL,
    resolved_at_ns  bigint,
    resolution      text CHECK (resolution IN ('restored', 'erased')),
    CONSTRAINT retrieval_requests_resolved CHECK ((resolved_at_ns IS NULL) = (resolution IS NULL))
);

-- At most one open request per document: asking again changes nothing.
CREATE UNIQUE INDEX retrieval_requests_one_open ON retrieval_requests (document_id)
    WHERE resolved_at_ns IS NULL;
CREATE INDEX retrieval_requests_by_patient ON retrieval_requests (patient_id, requested_at_ns);
CREATE INDEX retrieval_requests_open ON retrieval_requests (requested_at_ns)
    WHERE resolved_at_ns IS NULL;

-- Patients whose key was destroyed, with the operator's reason (the audit event carries
-- ids and a code only).
CREATE TABLE patient_erasures (
    patient_id   uuid PRIMARY KEY REFERENCES patients (id),
    reason       text NOT NULL,
    documents    bigint NOT NULL CHECK (documents >= 0),
    erased_at_ns bigint NOT NULL
);
