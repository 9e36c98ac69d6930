//! Tiaki's use cases. Each takes the acting [`Actor`](tiaki_domain::Actor), loads the
//! facts the policy needs, asks the one policy, records the decision in the audit log,
//! and only then touches content. Handlers in the web crate call these and nothing
//! below them, so no handler can skip a step.

pub mod access;
pub mod archive;
pub mod auth;
pub mod config;
pub mod demo;
pub mod documents;
mod error;
pub mod guard;
pub mod incidents;
pub mod keys;
pub mod leaks;
pub mod mail;
pub mod patients;
pub mod platform;
pub mod proxies;
pub mod sessions;

pub use config::CoreConfig;
pub use error::CoreError;

use std::sync::Arc;
use tiaki_audit::{AuditLog, NoteSigner, Transparency, Witness};
use tiaki_crypto::{PasswordHasher, Vault};
use tiaki_store::{BlobStore, Store};

/// Everything a request needs, built once at start-up and shared.
#[derive(Clone)]
pub struct Tiaki {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) blobs: BlobStore,
    pub(crate) vault: Vault,
    pub(crate) audit: AuditLog,
    pub(crate) transparency: Transparency,
    pub(crate) hasher: PasswordHasher,
    pub(crate) config: CoreConfig,
    pub(crate) mailer: mail::Mailer,
    pub(crate) guard: Arc<guard::Guard>,
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
        let transparency = Transparency::new(
            store.clone(),
            log_signer(&vault),
            config
                .audit_witness_file
                .clone()
                .map_or(Witness::None, Witness::File),
        );
        let guard = Arc::new(guard::Guard::new(config.guard.clone(), &store));
        let mailer = mail::Mailer::new(&config.mail).unwrap_or_else(|e| {
            tracing::error!(error = %e, "mail is misconfigured: no email will be sent");
            mail::Mailer::disabled()
        });
        Self {
            mailer,
            guard,
            store,
            blobs,
            vault,
            audit,
            transparency,
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

    /// Where email goes.
    #[must_use]
    pub fn mailer(&self) -> &mail::Mailer {
        &self.mailer
    }

    /// The audit log's checkpoints and proofs.
    #[must_use]
    pub fn transparency(&self) -> &Transparency {
        &self.transparency
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

/// The log's Ed25519 signing key and origin, derived from the keyring's MAC key so
/// that no further secret has to be kept: each installation gets its own origin.
fn log_signer(vault: &Vault) -> NoteSigner {
    let mac = vault.mac_key();
    let seed = mac.tag("tiaki/audit-log-signing/v1", b"ed25519 seed");
    let install = mac.tag("tiaki/audit-log-origin/v1", b"origin");
    let origin: String = install.iter().take(4).map(|b| format!("{b:02x}")).collect();
    NoteSigner::from_seed(&format!("tiaki.audit/{origin}"), &seed)
}
