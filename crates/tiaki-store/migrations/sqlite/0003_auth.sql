-- Sign-in that a stolen password cannot open (issue 3): second factors, and the
-- counters that throttle guessing. Same shape as the PostgreSQL migration.

-- A session starts password-only (NULL) and is replaced by a new session, with a new
-- token, once a second factor is presented; only those serve data.
ALTER TABLE sessions ADD COLUMN mfa_verified_at_ns INTEGER;

-- Listing and revoking an account's sessions.
CREATE INDEX sessions_by_account_time ON sessions (account_id, created_at_ns);

-- One TOTP authenticator per account. The seed is sealed under the keyring (a subkey of
-- the KEK of kek_version, bound to the account), never stored in clear. A row with no
-- confirmed_at_ns is an enrolment in progress. last_step is the newest 30-second step
-- a code was accepted for: a code is accepted only for a later step, so a code seen
-- over someone's shoulder cannot be replayed, on this node or any other.
CREATE TABLE totp_factors (
    account_id      BLOB PRIMARY KEY NOT NULL REFERENCES accounts (id),
    kek_version     INTEGER NOT NULL CHECK (kek_version >= 0),
    sealed_secret   BLOB NOT NULL,
    created_at_ns   INTEGER NOT NULL,
    confirmed_at_ns INTEGER,
    last_step       INTEGER CHECK (last_step IS NULL OR last_step >= 0)
) STRICT;

-- One-time recovery codes: SHA-256 of 128 random bits each, used at most once.
CREATE TABLE recovery_codes (
    account_id    BLOB NOT NULL REFERENCES accounts (id),
    code_hash     BLOB NOT NULL CHECK (length(code_hash) = 32),
    created_at_ns INTEGER NOT NULL,
    used_at_ns    INTEGER,
    PRIMARY KEY (account_id, code_hash)
) STRICT;

-- Failed sign-ins, for back-off and spray detection, shared by every node. subject is
-- a keyed MAC of the lower-cased username (the same for names that have no account,
-- so throttling reveals nothing about who exists); address is what the web edge saw
-- ('' when there is none). Rows older than a day are pruned.
CREATE TABLE login_failures (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    subject BLOB NOT NULL CHECK (length(subject) = 32),
    address TEXT NOT NULL,
    at_ns   INTEGER NOT NULL
) STRICT;

CREATE INDEX login_failures_by_subject ON login_failures (subject, address, at_ns);
CREATE INDEX login_failures_by_address ON login_failures (address, at_ns);
CREATE INDEX login_failures_by_time ON login_failures (at_ns);

-- Addresses an account has completed a sign-in from. Attempts from them skip the
-- address-wide and account-wide limits, so an attacker hammering an account from
-- elsewhere cannot lock its owner out.
CREATE TABLE known_addresses (
    subject         BLOB NOT NULL CHECK (length(subject) = 32),
    address         TEXT NOT NULL,
    last_success_ns INTEGER NOT NULL,
    PRIMARY KEY (subject, address)
) STRICT;
