-- Email (issue 3): verified addresses, one-time links sent by email (address
-- verification, password reset), invitations to register, and the counters that
-- throttle requests for them. Same shape as the PostgreSQL migration.

-- One verified address per account, for password resets and notices. address_key is
-- the lower-cased address, what lookups compare; several accounts may share an
-- address (a family's), and a reset link then goes out for each of them.
CREATE TABLE account_emails (
    account_id     BLOB PRIMARY KEY NOT NULL REFERENCES accounts (id),
    address        TEXT NOT NULL,
    address_key    TEXT NOT NULL,
    verified_at_ns INTEGER NOT NULL
) STRICT;

CREATE INDEX account_emails_by_address ON account_emails (address_key);

-- One-time links: only the SHA-256 of the 256-bit token is kept, so a copy of the
-- database cannot be used to reset a password. A link is good until expires_at_ns and
-- only once (used_at_ns is set in the statement that redeems it). address is the
-- address being verified (verify_email only).
CREATE TABLE email_tokens (
    token_hash    BLOB PRIMARY KEY NOT NULL CHECK (length(token_hash) = 32),
    purpose       TEXT NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    account_id    BLOB NOT NULL REFERENCES accounts (id),
    address       TEXT,
    created_at_ns INTEGER NOT NULL,
    expires_at_ns INTEGER NOT NULL,
    used_at_ns    INTEGER
) STRICT;

CREATE INDEX email_tokens_by_account ON email_tokens (account_id, purpose, created_at_ns);

-- Invitations to register, issued by a practice for an enrolled patient (whose
-- identity the practice has checked). Single use, expiring; a newer invitation for the
-- same patient revokes the older ones. The token is kept only as its SHA-256.
CREATE TABLE invitations (
    id            BLOB PRIMARY KEY NOT NULL,
    token_hash    BLOB NOT NULL CHECK (length(token_hash) = 32),
    patient_id    BLOB NOT NULL REFERENCES patients (id),
    practice_id   BLOB NOT NULL REFERENCES practices (id),
    address       TEXT NOT NULL,
    created_by    BLOB NOT NULL REFERENCES accounts (id),
    created_at_ns INTEGER NOT NULL,
    expires_at_ns INTEGER NOT NULL,
    used_at_ns    INTEGER,
    revoked_at_ns INTEGER,
    account_id    BLOB REFERENCES accounts (id),
    CONSTRAINT invitations_token_hash_key UNIQUE (token_hash)
) STRICT;

CREATE INDEX invitations_by_patient ON invitations (patient_id, created_at_ns);

-- An enrolled patient has at most one login: an invitation cannot make a second one.
CREATE UNIQUE INDEX accounts_one_per_patient ON accounts (patient_id)
    WHERE patient_id IS NOT NULL;

-- Requests that send email (reset links, verification links), counted per scope
-- ('reset-address:<ip>', 'reset-subject:<mac>', 'verify-account:<id>') so nobody can
-- flood an inbox or the outbox. Rows older than a day are pruned.
CREATE TABLE mail_requests (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,
    at_ns INTEGER NOT NULL
) STRICT;

CREATE INDEX mail_requests_by_scope ON mail_requests (scope, at_ns);
CREATE INDEX mail_requests_by_time ON mail_requests (at_ns);
