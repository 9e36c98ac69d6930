-- Online key rotation (`tiaki keys rotate`). Same shape as the PostgreSQL migration.

-- KEK versions a rotation has retired. From the moment a version is listed here, no row
-- wrapped or sealed under it can be written: the triggers below refuse it. So once a
-- count finds no row under a retired version, none can appear again, and its key can
-- leave the keyring safely. A server that has not yet taken up the new keyring fails
-- that one write cleanly rather than leaving a row nobody can open.
CREATE TABLE kek_retired (
    version       INTEGER PRIMARY KEY NOT NULL CHECK (version >= 0),
    retired_at_ns INTEGER NOT NULL
) STRICT;

CREATE TRIGGER patient_keys_kek_retired_insert BEFORE INSERT ON patient_keys
WHEN EXISTS (SELECT 1 FROM kek_retired WHERE version = NEW.kek_version)
BEGIN
    SELECT RAISE(ABORT, 'kek_version_retired: this key version is retired');
END;

CREATE TRIGGER patient_keys_kek_retired_update BEFORE UPDATE OF kek_version, wrapped ON patient_keys
WHEN EXISTS (SELECT 1 FROM kek_retired WHERE version = NEW.kek_version)
BEGIN
    SELECT RAISE(ABORT, 'kek_version_retired: this key version is retired');
END;

CREATE TRIGGER totp_factors_kek_retired_insert BEFORE INSERT ON totp_factors
WHEN EXISTS (SELECT 1 FROM kek_retired WHERE version = NEW.kek_version)
BEGIN
    SELECT RAISE(ABORT, 'kek_version_retired: this key version is retired');
END;

CREATE TRIGGER totp_factors_kek_retired_update BEFORE UPDATE OF kek_version, sealed_secret ON totp_factors
WHEN EXISTS (SELECT 1 FROM kek_retired WHERE version = NEW.kek_version)
BEGIN
    SELECT RAISE(ABORT, 'kek_version_retired: this key version is retired');
END;

-- Each running server's report of the keyring it wraps with, every few seconds, so a
-- rotation waits until every live server uses the new version before retiring the old.
CREATE TABLE kek_nodes (
    node_id        BLOB PRIMARY KEY NOT NULL,
    active_version INTEGER NOT NULL CHECK (active_version >= 0),
    held_versions  TEXT NOT NULL,
    started_at_ns  INTEGER NOT NULL,
    seen_at_ns     INTEGER NOT NULL
) STRICT;
