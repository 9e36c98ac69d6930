//! What proxy and guardian access keeps in the database: the grants, each with its
//! audit event. A sub-trait of [`crate::Store`], so every backend has it and the
//! conformance suite (`tests/store/proxies.rs`) runs on both.
//!
//! The store keeps grants and answers which one is in force; it never decides what a
//! grant allows (the policy does, with the grant as a fact). Two invariants are the
//! database's: at most one grant is in force (not revoked) per grantee and patient (a
//! unique index), and a grant never changes without its audit event (one transaction).

use crate::error::StoreError;
use tiaki_audit::AuditEvent;
use tiaki_domain::{AccountId, PatientId, ProxyAccess, ProxyGrantId, ProxyKind};
use time::OffsetDateTime;

/// The most grants one listing returns.
pub const GRANTS_LIMIT: u32 = 200;

#[async_trait::async_trait]
pub trait ProxyStore: Send + Sync {
    /// Stores a new grant and its audit event in one transaction. A grant still in
    /// force for the same grantee and patient (expired or not) is ended first, as
    /// revoked by the new grant's creator at its creation time, so at most one is ever
    /// in force. Of two grants racing for one pair, one commits and the other is a
    /// `Conflict` that changed nothing.
    async fn proxy_grant_insert(
        &self,
        grant: &ProxyAccess,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Ends the grant `id` of `patient`, of `kind`, if it is still in force, recording
    /// `event` in the same transaction. `false` (and nothing recorded) if there is no
    /// such grant in force: unknown, another patient's, of the other kind, or already
    /// revoked.
    async fn proxy_grant_revoke(
        &self,
        id: ProxyGrantId,
        patient: PatientId,
        kind: ProxyKind,
        by: AccountId,
        at: OffsetDateTime,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    async fn proxy_grant(&self, id: ProxyGrantId) -> Result<Option<ProxyAccess>, StoreError>;

    /// The grant in force (not revoked; it may have expired) by which `grantee` may act
    /// for `patient`, if any.
    async fn proxy_grant_between(
        &self,
        grantee: AccountId,
        patient: PatientId,
    ) -> Result<Option<ProxyAccess>, StoreError>;

    /// Every grant for `patient`, ended ones too, newest first; at most
    /// [`GRANTS_LIMIT`].
    async fn proxy_grants_of_patient(
        &self,
        patient: PatientId,
    ) -> Result<Vec<ProxyAccess>, StoreError>;

    /// The grants `grantee` holds that are not revoked (expired ones too), newest
    /// first; at most [`GRANTS_LIMIT`].
    async fn proxy_grants_held(&self, grantee: AccountId) -> Result<Vec<ProxyAccess>, StoreError>;
}
