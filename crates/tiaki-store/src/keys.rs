//! What a key-encryption-key rotation needs from the database: how many rows each KEK
//! version still wraps, the rows to re-wrap, a compare-and-set re-wrap in batches, the
//! fence that retires a version, and the servers' reports of the keyring they use.
//! A sub-trait of [`crate::Store`], so both backends have it and the conformance suite
//! (`tests/store/keys.rs`) runs on each.
//!
//! Re-wrapping never overwrites a concurrent writer: each row is updated only if it
//! still holds exactly the wrapped bytes and version the rotation read. A row changed in
//! between (an authenticator enrolled again, say) is left as its writer left it — under
//! the active version already, since servers wrap only with that — and a row still
//! under an old version is found again by the next pass.
//!
//! Retiring is a fence in the database itself (migration `0009_keys`): once a version
//! is in `kek_retired`, triggers refuse any row written under it, so a count of zero
//! stays zero and the key may leave the keyring.

use crate::crypto_types::{KekVersion, WrappedPatientKey};
use crate::error::StoreError;
use tiaki_crypto::{SealedSecret, SecretPurpose};
use tiaki_domain::{AccountId, PatientId, PracticeId};
use time::OffsetDateTime;
use uuid::Uuid;

/// The table of wrapped patient keys, as [`KekRows::table`] names it.
pub const PATIENT_KEYS_TABLE: &str = "patient_keys";

/// How many rows of one table one KEK version wraps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekRows {
    pub table: String,
    pub version: KekVersion,
    pub rows: u64,
}

/// A patient key to re-wrap, with what its wrap is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientKeyRow {
    pub patient: PatientId,
    /// The practice holding the patient's record (bound into the wrap).
    pub practice: PracticeId,
    pub key: WrappedPatientKey,
}

/// One patient key's re-wrap: written only if the row still holds `old`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientKeyRewrap {
    pub patient: PatientId,
    pub old: WrappedPatientKey,
    pub new: WrappedPatientKey,
}

/// An account secret sealed under the keyring (a TOTP seed today).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecretRow {
    pub account: AccountId,
    pub purpose: SecretPurpose,
    pub secret: SealedSecret,
}

/// One sealed secret's re-seal: written only if the row still holds `old`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecretRewrap {
    pub account: AccountId,
    pub purpose: SecretPurpose,
    pub old: SealedSecret,
    pub new: SealedSecret,
}

/// A running server's report of the keyring it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekNode {
    /// Random per process.
    pub node: Uuid,
    /// The version it wraps new keys with.
    pub active: KekVersion,
    /// Every version it holds.
    pub held: Vec<KekVersion>,
    pub started_at: OffsetDateTime,
    pub seen_at: OffsetDateTime,
}

/// The most rows one page or batch handles.
pub const MAX_BATCH: u32 = 10_000;

#[async_trait::async_trait]
pub trait KeyStore {
    /// Rows per table and KEK version, for every table with a `kek_version` column.
    /// The tables are found in the database's catalogue, not listed in code, so a
    /// table added later is counted too and a version it uses is never retired by
    /// mistake.
    async fn kek_rows(&self) -> Result<Vec<KekRows>, StoreError>;

    /// Patient keys not wrapped under `active`, in patient id order, after `after`;
    /// at most `limit` (and never more than [`MAX_BATCH`]).
    async fn patient_keys_to_rewrap(
        &self,
        active: KekVersion,
        after: Option<PatientId>,
        limit: u32,
    ) -> Result<Vec<PatientKeyRow>, StoreError>;

    /// Writes each re-wrap whose row still holds its `old` key, in one transaction.
    /// Returns how many were written; the others changed meanwhile and are untouched.
    async fn patient_keys_rewrap(&self, batch: &[PatientKeyRewrap]) -> Result<u64, StoreError>;

    /// Sealed account secrets not sealed under `active`, in account id order, after
    /// `after`; at most `limit` (and never more than [`MAX_BATCH`]).
    async fn sealed_secrets_to_rewrap(
        &self,
        active: KekVersion,
        after: Option<AccountId>,
        limit: u32,
    ) -> Result<Vec<SealedSecretRow>, StoreError>;

    /// Writes each re-seal whose row still holds its `old` secret, in one transaction.
    /// Returns how many were written.
    async fn sealed_secrets_rewrap(&self, batch: &[SealedSecretRewrap]) -> Result<u64, StoreError>;

    /// Retires `versions`: from the commit on, no row can be written under them. The
    /// fence waits for writes in flight (PostgreSQL locks the wrapped-key tables for
    /// the moment it takes; SQLite's write lock does the same), so no write that began
    /// before it can land after it. Retiring a version twice is no error.
    async fn kek_retire(
        &self,
        versions: &[KekVersion],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Every retired version, oldest first.
    async fn kek_retired(&self) -> Result<Vec<KekVersion>, StoreError>;

    /// Records (or refreshes) a server's report.
    async fn kek_node_report(&self, node: &KekNode) -> Result<(), StoreError>;

    /// Servers that reported at or after `since`, most recent first.
    async fn kek_nodes(&self, since: OffsetDateTime) -> Result<Vec<KekNode>, StoreError>;

    /// Forgets servers last seen before `before`. Returns how many.
    async fn kek_nodes_prune(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// `1,2,5` — how held versions are stored.
pub(crate) fn versions_text(versions: &[KekVersion]) -> String {
    versions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn parse_versions(text: &str) -> Result<Vec<KekVersion>, StoreError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map(KekVersion)
                .map_err(|_| StoreError::corrupt("kek node versions"))
        })
        .collect()
}

pub(crate) fn version_of(n: i64) -> Result<KekVersion, StoreError> {
    u32::try_from(n)
        .map(KekVersion)
        .map_err(|_| StoreError::corrupt("kek version out of range"))
}

/// The table and id column holding secrets of `purpose`.
pub(crate) fn sealed_table(purpose: SecretPurpose) -> (&'static str, &'static str) {
    match purpose {
        SecretPurpose::Totp => ("totp_factors", "account_id"),
    }
}

/// A table name from the catalogue, accepted only if it is a plain identifier, since
/// it is spliced into a count query.
pub(crate) fn plain_identifier(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    ok.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip_and_identifiers_are_plain() {
        let v = vec![KekVersion(1), KekVersion(12)];
        assert_eq!(versions_text(&v), "1,12");
        assert_eq!(parse_versions("1,12").ok(), Some(v));
        assert_eq!(parse_versions("").ok(), Some(vec![]));
        assert!(parse_versions("1,x").is_err());
        assert_eq!(plain_identifier("patient_keys"), Some("patient_keys"));
        for bad in ["", "a;drop", "Patient", "1x", "a b", "x\"y"] {
            assert_eq!(plain_identifier(bad), None, "{bad}");
        }
    }
}
