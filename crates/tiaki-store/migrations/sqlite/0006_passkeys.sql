-- Passkeys, trusted devices and step-up (issue 3). Same shape as the PostgreSQL
-- migration.

-- When this session last presented a second factor (at sign-in or a step-up): NULL
-- for a password-only session and for one opened from a trusted device without a
-- factor. Sensitive actions need it within the last few minutes. trusted_device_id is
-- the trusted device a session was opened from without a second factor.
ALTER TABLE sessions ADD COLUMN factor_at_ns INTEGER;
ALTER TABLE sessions ADD COLUMN trusted_device_id BLOB;

-- Registered passkeys (WebAuthn credentials). passkey is the credential as webauthn-rs
-- keeps it (JSON: credential id, public key, signature counter, flags): public data,
-- no secret. A credential belongs to one account only.
CREATE TABLE passkeys (
    id              BLOB PRIMARY KEY NOT NULL,
    account_id      BLOB NOT NULL REFERENCES accounts (id),
    credential_id   BLOB NOT NULL CHECK (length(credential_id) BETWEEN 1 AND 1023),
    name            TEXT NOT NULL,
    passkey         TEXT NOT NULL,
    created_at_ns   INTEGER NOT NULL,
    last_used_at_ns INTEGER,
    CONSTRAINT passkeys_credential_key UNIQUE (credential_id)
) STRICT;

CREATE INDEX passkeys_by_account ON passkeys (account_id, created_at_ns);

-- A WebAuthn ceremony in progress: the challenge state between "options" and
-- "finish", shared by every node, taken (deleted) once. Bound to the session that
-- started it, if any. Rows past expires_at_ns are pruned.
CREATE TABLE webauthn_ceremonies (
    id            BLOB PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('register', 'authenticate', 'discover')),
    account_id    BLOB REFERENCES accounts (id),
    session_id    BLOB,
    state         TEXT NOT NULL,
    expires_at_ns INTEGER NOT NULL
) STRICT;

CREATE INDEX webauthn_ceremonies_by_expiry ON webauthn_ceremonies (expires_at_ns);

-- Devices an account trusts for a while ("trust this device for N days"): a sign-in
-- with the right password from one skips the second factor. The browser holds a
-- signed cookie with the id and a 256-bit secret; only the secret's SHA-256 is kept.
-- Revoked one by one, and all at once on any factor or password change.
CREATE TABLE trusted_devices (
    id              BLOB PRIMARY KEY NOT NULL,
    account_id      BLOB NOT NULL REFERENCES accounts (id),
    secret_hash     BLOB NOT NULL CHECK (length(secret_hash) = 32),
    created_at_ns   INTEGER NOT NULL,
    expires_at_ns   INTEGER NOT NULL,
    last_used_at_ns INTEGER,
    revoked_at_ns   INTEGER,
    address         TEXT,
    user_agent      TEXT
) STRICT;

CREATE INDEX trusted_devices_by_account ON trusted_devices (account_id, created_at_ns);
