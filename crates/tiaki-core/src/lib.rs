//! Tiaki's use cases. Each takes the acting [`Actor`](tiaki_domain::Actor), loads the
//! facts the policy needs, asks the one policy, records the decision in the audit log,
//! and only then touches content. Handlers in the web crate call these and nothing
//! below them, so no handler can skip a step.

pub mod config;
pub mod demo;
pub mod documents;
mod error;
pub mod patients;
pub mod platform;
pub mod sessions;

pub use config::CoreConfig;
pub use error::CoreError;

use std::sync::Arc;
use tiaki_audit::AuditLog;
use tiaki_crypto::{PasswordHasher, Vault};
use tiaki_store::{BlobStore, Store};

/// Everything a request needs, built once at start-up and shared.
#[derive(Clone)]
pub struct Tiaki {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) blobs: BlobStore,
    pub(crate) vault: Vault,
    pub(crate) audit: AuditLog,
    pub(crate) hasher: PasswordHasher,
    pub(crate) config: CoreConfig,
}

impl std::fmt::Debug for Tiaki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tiaki")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Tiaki {
    /// Wires the parts together. The audit log appends through the same store.
    #[must_use]
    pub fn new(store: Arc<dyn Store>, blobs: BlobStore, vault: Vault, config: CoreConfig) -> Self {
        let sink: Arc<dyn tiaki_audit::AuditSink> = store.clone();
        let audit = AuditLog::new(sink);
        let hasher = PasswordHasher::new(config.password_hash_concurrency);
        Self {
            store,
            blobs,
            vault,
            audit,
            hasher,
            config,
        }
    }

    #[must_use]
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    #[must_use]
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    #[must_use]
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn ready(&self) -> bool {
        self.store.ping().await.is_ok()
    }
}

impl Tiaki {
    /// Whether the policy would allow an action: for deciding what a page offers
    /// (an upload form, a "view" button). Never a substitute for the decision made
    /// when the action is taken.
    #[must_use]
    pub fn permits(
        &self,
        actor: &tiaki_domain::Actor,
        action: tiaki_domain::Action,
        target: tiaki_domain::Target,
    ) -> bool {
        tiaki_domain::authorize(actor, action, target).is_ok()
    }
}
