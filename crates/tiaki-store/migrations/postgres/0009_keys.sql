-- Online key rotation (`tiaki keys rotate`). Same shape as the SQLite migration.

-- KEK versions a rotation has retired. From the moment a version is listed here, no row
-- wrapped or sealed under it can be written: the triggers below refuse it. So once a
-- count finds no row under a retired version, none can appear again, and its key can
-- leave the keyring safely. A server that has not yet taken up the new keyring fails
-- that one write cleanly rather than leaving a row nobody can open.
CREATE TABLE kek_retired (
    version       bigint PRIMARY KEY CHECK (version >= 0),
    retired_at_ns bigint NOT NULL
);

CREATE FUNCTION kek_version_not_retired() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM kek_retired WHERE version = NEW.kek_version) THEN
        RAISE EXCEPTION 'this key version is retired'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'kek_version_retired';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER patient_keys_kek_retired
BEFORE INSERT OR UPDATE OF kek_version, wrapped ON patient_keys
FOR EACH ROW EXECUTE FUNCTION kek_version_not_retired();

CREATE TRIGGER totp_factors_kek_retired
BEFORE INSERT OR UPDATE OF kek_version, sealed_secret ON totp_factors
FOR EACH ROW EXECUTE FUNCTION kek_version_not_retired();

-- Each running server's report of the keyring it wraps with, every few seconds, so a
-- rotation waits until every live server uses the new version before retiring the old.
CREATE TABLE kek_nodes (
    node_id        uuid PRIMARY KEY,
    active_version bigint NOT NULL CHECK (active_version >= 0),
    held_versions  text NOT NULL,
    started_at_ns  bigint NOT NULL,
    seen_at_ns     bigint NOT NULL
);
