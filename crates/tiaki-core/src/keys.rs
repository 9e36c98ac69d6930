//! Online rotation of the key-encryption key (KEK): `tiaki keys status | rotate |
//! retire`, and the key watch every server runs.
//!
//! What a KEK wraps lives in two kinds of rows: patient keys (`patient_keys`) and
//! sealed account secrets (TOTP seeds, `totp_factors`). A rotation moves every one of
//! them to a new KEK version while servers keep serving, then removes the old version
//! from the keyring — and only once a count proves no row anywhere still needs it.
//!
//! # The protocol
//!
//! 1. **Add.** Under the key source's lock (one rotation at a time), add a new version
//!    and make it active. The keyring file is replaced atomically (temporary file,
//!    fsync, rename), so a crash leaves the old keyring or the new one, never half.
//! 2. **Wait for servers.** Every server follows the keyring (see
//!    `tiaki_crypto`'s `live.rs`): it looks again before a wrap once a second has passed
//!    and at once on meeting a version it lacks, and its key watch
//!    ([`Tiaki::spawn_key_watch`]) looks every [`WATCH_EVERY`] and reports the versions
//!    it uses to the database (`kek_nodes`). The rotation waits until every server seen
//!    in the last [`NODE_STALE`] reports the new active version. A server that cannot
//!    see the new keyring (another host, an old copy) stops the rotation with its id
//!    rather than being left behind.
//! 3. **Fence.** The old versions go into `kek_retired`; from that commit on the
//!    database refuses any row written under them (triggers, migration `0009_keys`). As
//!    every server already wraps with the new version this refuses nothing in practice;
//!    it is what makes the final count trustworthy.
//! 4. **Re-wrap** every row under an old version, in batches, each batch one
//!    transaction whose updates compare-and-set on the old wrapped bytes and version: a
//!    concurrent writer is never overwritten, and its row is under the new version
//!    anyway. Readers never fail meanwhile: a server meeting a row re-wrapped under a
//!    version it has not taken up yet looks at the keyring at once.
//! 5. **Retire.** Count the rows under old versions in every table that has a
//!    `kek_version` column (found in the database's catalogue, so a table added later
//!    is counted too). Only if the count is zero — and, thanks to the fence, stays so —
//!    are the old versions removed from the keyring, after a short pause so a read that
//!    fetched a row just before its re-wrap can still unwrap it.
//!
//! Every step is audited (`keys.rotate.begin`, `.resume`, `.servers_ready`, `.fence`,
//! `keys.rewrap` per batch, `keys.retire`), acting as the console like `tiaki guard`.
//!
//! **Resumable.** Nothing is kept about a rotation but the keyring and the rows. Run
//! again after a kill, `rotate` sees a keyring with more than one version, or rows not
//! under the active version, and carries on with the active version as its target
//! instead of adding another; every step is idempotent.
//!
//! **The seam.** Everything here goes through [`KeySource`] (the keyring file by
//! default): a KMS adapter implements the same trait.

use crate::Tiaki;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tiaki_audit::{AuditError, AuditEvent, Outcome, RequestContext};
use tiaki_crypto::{DEFAULT_REFRESH, FileKeySource, KekVersion, KeySource, KeyringError};
use tiaki_domain::Target;
use tiaki_store::keys::PATIENT_KEYS_TABLE;
use tiaki_store::{KekNode, KekRows, PatientKeyRewrap, SealedSecretRewrap, StoreError};
use time::OffsetDateTime;

/// How often a server's key watch looks at the keyring and reports to the database.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);
/// A server not heard from for this long is taken to be gone.
pub const NODE_STALE: Duration = Duration::from_secs(15);
/// Server reports older than this are deleted.
const NODE_FORGET: Duration = Duration::from_secs(24 * 3600);
/// How many times the re-wrap goes over the rows while rows under old versions remain
/// and the last pass moved some.
const MAX_PASSES: usize = 3;

/// Why a key command stopped. Nothing here carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error("the database failed: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The vault's keyring came from nowhere it can be followed (an in-memory keyring).
    #[error("this process's keyring was not loaded from a file or other key source")]
    NoSource,
    #[error(
        "the keyring's active version {0} was retired in this database: this keyring is \
         older than the database; use the newest copy"
    )]
    ActiveRetired(KekVersion),
    #[error(
        "after {waited_s} s, these servers still wrap with an older version than {target}: \
         {behind}. Give them the new keyring (or stop them), then run the command again; \
         it carries on"
    )]
    ServersBehind {
        target: KekVersion,
        waited_s: u64,
        behind: String,
    },
    #[error(
        "rows still need version(s) {versions}: {rows}. Nothing was retired; see the log \
         for the rows that failed to re-wrap, then run the command again"
    )]
    RowsRemain { versions: String, rows: String },
    #[error("the keyring's active version is {held}, not {expected} as the rotation expected")]
    Unexpected {
        held: KekVersion,
        expected: KekVersion,
    },
}

/// One KEK version's use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionUse {
    pub version: KekVersion,
    /// In the keyring.
    pub held: bool,
    pub active: bool,
    /// In `kek_retired`: nothing may be written under it any more.
    pub retired: bool,
    pub patient_keys: u64,
    /// Rows of every other table with a `kek_version` column (TOTP seeds).
    pub sealed_secrets: u64,
}

/// What `tiaki keys status` shows.
#[derive(Debug, Clone)]
pub struct KeyStatus {
    /// The key source (the keyring file's path).
    pub source: String,
    pub active: KekVersion,
    pub versions: Vec<VersionUse>,
    /// Servers heard from in the last [`NODE_STALE`].
    pub nodes: Vec<KekNode>,
}

/// How a rotation runs.
#[derive(Debug, Clone)]
pub struct RotateOptions {
    /// Rows per batch (one transaction each).
    pub batch: u32,
    /// A pause between batches, to go gently on a busy database.
    pub pause: Duration,
    /// How long to wait for every server to take up the new version.
    pub server_wait: Duration,
    /// After the last row moved and before the old version leaves the keyring.
    pub settle: Duration,
}

impl Default for RotateOptions {
    fn default() -> Self {
        Self {
            batch: 500,
            pause: Duration::ZERO,
            server_wait: Duration::from_secs(120),
            settle: 2 * DEFAULT_REFRESH,
        }
    }
}

/// Progress of a rotation, for a console to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationEvent {
    /// A new version was added and made active.
    Began {
        version: KekVersion,
    },
    /// An unfinished rotation to `version` is carried on.
    Resumed {
        version: KekVersion,
    },
    /// Servers still report an older version; waiting.
    WaitingForServers {
        behind: usize,
    },
    ServersReady {
        servers: usize,
    },
    Fenced {
        versions: Vec<KekVersion>,
    },
    /// Re-wrapping `what` starts: `total` rows under old versions.
    Rewrapping {
        what: &'static str,
        total: u64,
    },
    /// `n` more rows moved.
    Rewrapped {
        n: u64,
    },
    /// Re-wrapping `what` is done for this pass.
    RewrapDone {
        what: &'static str,
    },
    Retired {
        versions: Vec<KekVersion>,
    },
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    pub version: KekVersion,
    pub resumed: bool,
    pub patient_keys: u64,
    pub sealed_secrets: u64,
    /// Rows that failed to unwrap (logged by id); nothing is retired while any remain.
    pub failed: u64,
    pub retired: Vec<KekVersion>,
    pub elapsed: Duration,
}

/// The console's progress callback.
pub type OnEvent<'a> = &'a mut (dyn FnMut(RotationEvent) + Send);

#[derive(Default)]
struct Moved {
    written: u64,
    failed: u64,
}

impl Tiaki {
    /// Makes the vault follow its key source (the keyring file it was loaded from) and
    /// returns the source. Idempotent.
    pub fn follow_keyring(&self) -> Result<Arc<dyn KeySource>, KeysError> {
        if let Some(source) = self.vault.source() {
            return Ok(source);
        }
        let path = self.vault.keyring_path().ok_or(KeysError::NoSource)?;
        let source: Arc<dyn KeySource> = Arc::new(FileKeySource::new(&path));
        self.vault.follow(source.clone(), DEFAULT_REFRESH);
        // Another caller may have won the race to follow; use whichever is followed.
        Ok(self.vault.source().unwrap_or(source))
    }

    /// The server's key watch: follows the keyring, looks at it every [`WATCH_EVERY`],
    /// and reports the versions in use to the database so a rotation knows when every
    /// server wraps with the new one. Failures are logged and retried at the next tick.
    pub fn spawn_key_watch(&self) -> tokio::task::JoinHandle<()> {
        if let Err(e) = self.follow_keyring() {
            tracing::warn!(error = %e, "the keyring cannot be followed; a rotation will need a restart");
        }
        let app = self.clone();
        tokio::spawn(async move {
            let node = uuid::Uuid::now_v7();
            let started_at = OffsetDateTime::now_utc();
            let mut tick = tokio::time::interval(WATCH_EVERY);
            let mut ticks: u64 = 0;
            loop {
                tick.tick().await;
                if let Err(e) = app.vault.refresh() {
                    tracing::warn!(error = %e, "could not take up the keyring");
                }
                let report = KekNode {
                    node,
                    active: app.vault.active_version(),
                    held: app.vault.versions(),
                    started_at,
                    seen_at: OffsetDateTime::now_utc(),
                };
                if let Err(e) = app.store.kek_node_report(&report).await {
                    tracing::warn!(error = %e, "could not report the keyring in use");
                }
                ticks = ticks.wrapping_add(1);
                if ticks % 1800 == 1 {
                    let before = OffsetDateTime::now_utc() - NODE_FORGET;
                    if let Err(e) = app.store.kek_nodes_prune(before).await {
                        tracing::warn!(error = %e, "could not prune old key reports");
                    }
                }
            }
        })
    }

    /// Versions held and used, per version, and the servers heard from.
    pub async fn key_status(&self) -> Result<KeyStatus, KeysError> {
        let source = self.follow_keyring()?;
        let keyring = source.load()?;
        let rows = self.store.kek_rows().await?;
        let retired: BTreeSet<KekVersion> = self.store.kek_retired().await?.into_iter().collect();
        let mut by_version: BTreeMap<KekVersion, VersionUse> = BTreeMap::new();
        let blank = |version| VersionUse {
            version,
            held: false,
            active: false,
            retired: false,
            patient_keys: 0,
            sealed_secrets: 0,
        };
        for version in keyring.versions() {
            by_version
                .entry(version)
                .or_insert_with(|| blank(version))
                .held = true;
        }
        for r in &rows {
            let entry = by_version
                .entry(r.version)
                .or_insert_with(|| blank(r.version));
            if r.table == PATIENT_KEYS_TABLE {
                entry.patient_keys += r.rows;
            } else {
                entry.sealed_secrets += r.rows;
            }
        }
        for (version, entry) in &mut by_version {
            entry.active = *version == keyring.active_version();
            entry.retired = retired.contains(version);
        }
        let since = OffsetDateTime::now_utc() - NODE_STALE;
        Ok(KeyStatus {
            source: source.describe(),
            active: keyring.active_version(),
            versions: by_version.into_values().collect(),
            nodes: self.store.kek_nodes(since).await?,
        })
    }

    /// Rotates the KEK online (see the module documentation), or carries on with an
    /// unfinished rotation. Returns once the old versions have left the keyring.
    pub async fn rotate_keys(
        &self,
        options: &RotateOptions,
        on: OnEvent<'_>,
    ) -> Result<RotationReport, KeysError> {
        let started = Instant::now();
        let source = self.follow_keyring()?;
        let _lock = source.lock()?;
        let keyring = source.load()?;
        let retired = self.store.kek_retired().await?;
        if retired.contains(&keyring.active_version()) {
            return Err(KeysError::ActiveRetired(keyring.active_version()));
        }
        let rows = self.store.kek_rows().await?;
        let unfinished = keyring.versions().len() > 1
            || rows
                .iter()
                .any(|r| r.version != keyring.active_version() && r.rows > 0);
        let (target, resumed) = if unfinished {
            (keyring.active_version(), true)
        } else {
            (source.add_version()?, false)
        };
        drop(keyring);
        let (action, event) = if resumed {
            (
                "keys.rotate.resume",
                RotationEvent::Resumed { version: target },
            )
        } else {
            (
                "keys.rotate.begin",
                RotationEvent::Began { version: target },
            )
        };
        self.audit_keys(action, Outcome::Allowed, &format!("kek:{target}"))
            .await?;
        on(event);
        tracing::info!(version = %target, resumed, "key rotation");
        // This process wraps with the new version from now on.
        self.vault.refresh()?;
        if self.vault.active_version() != target {
            return Err(KeysError::Unexpected {
                held: self.vault.active_version(),
                expected: target,
            });
        }

        self.wait_for_servers(target, options, on).await?;
        let old = self.fence_old_versions(source.as_ref(), target, on).await?;

        let mut patient = Moved::default();
        let mut sealed = Moved::default();
        for _ in 0..MAX_PASSES {
            let before = self.rows_under(&old).await?;
            if before.iter().all(|r| r.rows == 0) {
                break;
            }
            let p = self.rewrap_patient_keys(target, options, on).await?;
            let s = self.rewrap_sealed_secrets(target, options, on).await?;
            let moved = p.written + s.written;
            patient.written += p.written;
            patient.failed = p.failed;
            sealed.written += s.written;
            sealed.failed = s.failed;
            if moved == 0 {
                break;
            }
        }
        let retired = self
            .retire_counted(source.as_ref(), target, &old, options, on)
            .await?;
        Ok(RotationReport {
            version: target,
            resumed,
            patient_keys: patient.written,
            sealed_secrets: sealed.written,
            failed: patient.failed + sealed.failed,
            retired,
            elapsed: started.elapsed(),
        })
    }

    /// Retires every version but the active one, if no row needs them any more: the
    /// last step of a rotation on its own. Returns the versions removed.
    pub async fn retire_keys(
        &self,
        options: &RotateOptions,
        on: OnEvent<'_>,
    ) -> Result<Vec<KekVersion>, KeysError> {
        let source = self.follow_keyring()?;
        let _lock = source.lock()?;
        self.vault.refresh()?;
        let target = source.load()?.active_version();
        if self.store.kek_retired().await?.contains(&target) {
            return Err(KeysError::ActiveRetired(target));
        }
        self.wait_for_servers(target, options, on).await?;
        let old = self.fence_old_versions(source.as_ref(), target, on).await?;
        self.retire_counted(source.as_ref(), target, &old, options, on)
            .await
    }

    /// Waits until every live server reports `target` as its active version.
    async fn wait_for_servers(
        &self,
        target: KekVersion,
        options: &RotateOptions,
        on: OnEvent<'_>,
    ) -> Result<(), KeysError> {
        // Any process following the keyring looks again before its next wrap once
        // DEFAULT_REFRESH has passed; after twice that, none wraps with an old version.
        tokio::time::sleep(2 * DEFAULT_REFRESH).await;
        let started = Instant::now();
        loop {
            let since = OffsetDateTime::now_utc() - NODE_STALE;
            let nodes = self.store.kek_nodes(since).await?;
            let behind: Vec<&KekNode> = nodes.iter().filter(|n| n.active < target).collect();
            if behind.is_empty() {
                self.audit_keys(
                    "keys.rotate.servers_ready",
                    Outcome::Allowed,
                    &format!("kek:{target}:servers:{}", nodes.len()),
                )
                .await?;
                on(RotationEvent::ServersReady {
                    servers: nodes.len(),
                });
                return Ok(());
            }
            if started.elapsed() >= options.server_wait {
                let behind = behind
                    .iter()
                    .map(|n| format!("{} (version {})", n.node, n.active))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.audit_keys(
                    "keys.rotate.servers_ready",
                    Outcome::Denied,
                    "servers_behind",
                )
                .await?;
                return Err(KeysError::ServersBehind {
                    target,
                    waited_s: options.server_wait.as_secs(),
                    behind,
                });
            }
            on(RotationEvent::WaitingForServers {
                behind: behind.len(),
            });
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Every version older than `target`, held or used, written into `kek_retired`.
    async fn fence_old_versions(
        &self,
        source: &dyn KeySource,
        target: KekVersion,
        on: OnEvent<'_>,
    ) -> Result<Vec<KekVersion>, KeysError> {
        let mut old: BTreeSet<KekVersion> = source
            .load()?
            .versions()
            .into_iter()
            .filter(|v| *v < target)
            .collect();
        old.extend(
            self.store
                .kek_rows()
                .await?
                .into_iter()
                .map(|r| r.version)
                .filter(|v| *v < target),
        );
        let old: Vec<KekVersion> = old.into_iter().collect();
        if !old.is_empty() {
            self.store
                .kek_retire(&old, OffsetDateTime::now_utc())
                .await?;
            self.audit_keys("keys.rotate.fence", Outcome::Allowed, &kek_list(&old))
                .await?;
            on(RotationEvent::Fenced {
                versions: old.clone(),
            });
        }
        Ok(old)
    }

    /// Rows still under `versions`, per table and version, non-zero only.
    async fn rows_under(&self, versions: &[KekVersion]) -> Result<Vec<KekRows>, KeysError> {
        Ok(self
            .store
            .kek_rows()
            .await?
            .into_iter()
            .filter(|r| r.rows > 0 && versions.contains(&r.version))
            .collect())
    }

    /// Counts, and removes `old` from the keyring only if nothing needs them.
    async fn retire_counted(
        &self,
        source: &dyn KeySource,
        target: KekVersion,
        old: &[KekVersion],
        options: &RotateOptions,
        on: OnEvent<'_>,
    ) -> Result<Vec<KekVersion>, KeysError> {
        let remaining = self.rows_under(old).await?;
        if !remaining.is_empty() {
            self.audit_keys("keys.retire", Outcome::Denied, "rows_remain")
                .await?;
            return Err(KeysError::RowsRemain {
                versions: kek_list(old),
                rows: remaining
                    .iter()
                    .map(|r| format!("{} under version {}: {}", r.table, r.version, r.rows))
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
        let held: Vec<KekVersion> = source
            .load()?
            .versions()
            .into_iter()
            .filter(|v| *v != target && old.contains(v))
            .collect();
        if held.is_empty() {
            return Ok(held);
        }
        // A read that fetched a row just before its re-wrap may still be unwrapping it.
        tokio::time::sleep(options.settle).await;
        source.remove_versions(&held)?;
        self.vault.refresh()?;
        self.audit_keys("keys.retire", Outcome::Allowed, &kek_list(&held))
            .await?;
        tracing::info!(versions = %kek_list(&held), "retired key versions");
        on(RotationEvent::Retired {
            versions: held.clone(),
        });
        Ok(held)
    }

    async fn rewrap_patient_keys(
        &self,
        target: KekVersion,
        options: &RotateOptions,
        on: OnEvent<'_>,
    ) -> Result<Moved, KeysError> {
        let total = self.count_below(target, true).await?;
        on(RotationEvent::Rewrapping {
            what: "patient keys",
            total,
        });
        let mut moved = Moved::default();
        let mut after = None;
        loop {
            let rows = self
                .store
                .patient_keys_to_rewrap(target, after, options.batch)
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.patient);
            let mut batch = Vec::with_capacity(rows.len());
            for row in rows {
                // A row under a newer version than the target is another keyring's.
                if row.key.kek_version > target {
                    moved.failed += 1;
                    tracing::error!(patient = %row.patient, version = %row.key.kek_version, "patient key under a version newer than the keyring's");
                    continue;
                }
                match self
                    .vault
                    .rewrap_patient_key(&row.key, row.patient, row.practice)
                {
                    Ok(new) if new.kek_version == target => batch.push(PatientKeyRewrap {
                        patient: row.patient,
                        old: row.key,
                        new,
                    }),
                    Ok(new) => {
                        return Err(KeysError::Unexpected {
                            held: new.kek_version,
                            expected: target,
                        });
                    }
                    Err(e) => {
                        moved.failed += 1;
                        tracing::error!(patient = %row.patient, version = %row.key.kek_version, error = %e, "patient key failed to re-wrap");
                    }
                }
            }
            let n = self.store.patient_keys_rewrap(&batch).await?;
            moved.written += n;
            self.audit_keys(
                "keys.rewrap",
                Outcome::Allowed,
                &format!("patient_keys:kek:{target}:{n}"),
            )
            .await?;
            on(RotationEvent::Rewrapped { n });
            if !options.pause.is_zero() {
                tokio::time::sleep(options.pause).await;
            }
        }
        on(RotationEvent::RewrapDone {
            what: "patient keys",
        });
        Ok(moved)
    }

    async fn rewrap_sealed_secrets(
        &self,
        target: KekVersion,
        options: &RotateOptions,
        on: OnEvent<'_>,
    ) -> Result<Moved, KeysError> {
        let total = self.count_below(target, false).await?;
        on(RotationEvent::Rewrapping {
            what: "sealed secrets",
            total,
        });
        let mut moved = Moved::default();
        let mut after = None;
        loop {
            let rows = self
                .store
                .sealed_secrets_to_rewrap(target, after, options.batch)
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.account);
            let mut batch = Vec::with_capacity(rows.len());
            for row in rows {
                if row.secret.kek_version > target {
                    moved.failed += 1;
                    tracing::error!(account = %row.account, version = %row.secret.kek_version, "sealed secret under a version newer than the keyring's");
                    continue;
                }
                match self
                    .vault
                    .reseal_secret(row.purpose, row.account, &row.secret)
                {
                    Ok(new) if new.kek_version == target => batch.push(SealedSecretRewrap {
                        account: row.account,
                        purpose: row.purpose,
                        old: row.secret,
                        new,
                    }),
                    Ok(new) => {
                        return Err(KeysError::Unexpected {
                            held: new.kek_version,
                            expected: target,
                        });
                    }
                    Err(e) => {
                        moved.failed += 1;
                        tracing::error!(account = %row.account, version = %row.secret.kek_version, error = %e, "sealed secret failed to re-seal");
                    }
                }
            }
            let n = self.store.sealed_secrets_rewrap(&batch).await?;
            moved.written += n;
            self.audit_keys(
                "keys.rewrap",
                Outcome::Allowed,
                &format!("sealed_secrets:kek:{target}:{n}"),
            )
            .await?;
            on(RotationEvent::Rewrapped { n });
            if !options.pause.is_zero() {
                tokio::time::sleep(options.pause).await;
            }
        }
        on(RotationEvent::RewrapDone {
            what: "sealed secrets",
        });
        Ok(moved)
    }

    /// Rows under versions older than `target`: patient keys, or everything else.
    async fn count_below(&self, target: KekVersion, patient_keys: bool) -> Result<u64, KeysError> {
        Ok(self
            .store
            .kek_rows()
            .await?
            .iter()
            .filter(|r| r.version < target && (r.table == PATIENT_KEYS_TABLE) == patient_keys)
            .map(|r| r.rows)
            .sum())
    }

    async fn audit_keys(
        &self,
        action: &str,
        outcome: Outcome,
        reason: &str,
    ) -> Result<(), KeysError> {
        let event = AuditEvent::named(
            action,
            None,
            Some(&Target::Platform),
            outcome,
            &RequestContext::default(),
        )
        .with_reason(reason);
        self.audit.record_event(&event).await?;
        Ok(())
    }
}

/// `kek:1,2`
fn kek_list(versions: &[KekVersion]) -> String {
    let list: Vec<String> = versions.iter().map(ToString::to_string).collect();
    format!("kek:{}", list.join(","))
}
