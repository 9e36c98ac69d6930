//! The keys a running [`Vault`](super::Vault) uses, and how it follows its key source
//! while a rotation changes it underneath — without a restart and without a failed read.
//!
//! A vault made with [`Vault::new`](super::Vault::new) holds a fixed keyring. Once told
//! to follow a [`KeySource`] ([`Vault::follow`](super::Vault::follow), which the server
//! does at start-up), it takes up the source's keyring again:
//!
//! - **before wrapping**, if it last looked more than `every` ago (one second by
//!   default). So a vault never wraps under a keyring older than that: once a rotation
//!   has saved a new active version and waited that long (and seen every server report
//!   the new version, see `tiaki_core::keys`), no new wrap uses an old version;
//! - **on meeting a version it does not hold** (a row another process has just
//!   re-wrapped): it looks at once and retries, so readers never fail while rows move;
//! - **when asked** ([`Vault::refresh`](super::Vault::refresh)): the server's key watch
//!   does so every few seconds, which is also how a retired version leaves memory.
//!
//! Looking costs one `stat` (the source's stamp); the keyring is parsed only when the
//! stamp changed. A keyring is taken up only if it is the same keyring (same MAC key:
//! every CSRF token, cookie and the audit log's signing key derive from it) and its
//! active version is not older than the one in use: the active version only ever moves
//! forward, so a vault never goes back to wrapping with a version a rotation may be
//! retiring. Anything else is refused loudly and the keys in use are kept — a half-copied
//! or wrong file never takes a running server down.

use crate::keyring::{KekVersion, KeySource, Keyring, KeyringError, SourceStamp};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How often, at most, a following vault looks at its source before a wrap.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(1);

/// What looking at the source found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// The vault follows no source.
    NotFollowing,
    /// The source has not changed.
    Unchanged,
    /// A changed keyring was taken up: its active version and every version it holds.
    Loaded {
        active: KekVersion,
        versions: Vec<KekVersion>,
    },
}

pub(super) struct LiveKeys {
    current: RwLock<Arc<Keyring>>,
    followed: OnceLock<Followed>,
}

struct Followed {
    source: Arc<dyn KeySource>,
    every: Duration,
    watch: Mutex<Watch>,
}

#[derive(Default)]
struct Watch {
    checked: Option<Instant>,
    stamp: Option<SourceStamp>,
}

impl LiveKeys {
    pub(super) fn new(keyring: Keyring) -> Self {
        Self {
            current: RwLock::new(Arc::new(keyring)),
            followed: OnceLock::new(),
        }
    }

    /// Starts following `source`; false if already following one.
    pub(super) fn follow(&self, source: Arc<dyn KeySource>, every: Duration) -> bool {
        self.followed
            .set(Followed {
                source,
                every,
                watch: Mutex::new(Watch::default()),
            })
            .is_ok()
    }

    pub(super) fn source(&self) -> Option<Arc<dyn KeySource>> {
        self.followed.get().map(|f| f.source.clone())
    }

    /// The keyring in use now.
    pub(super) fn current(&self) -> Arc<Keyring> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The keyring to wrap with: looked up again first if the last look is too old.
    pub(super) fn for_wrapping(&self) -> Arc<Keyring> {
        if let Some(followed) = self.followed.get() {
            let due = {
                let watch = followed
                    .watch
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                watch
                    .checked
                    .is_none_or(|at| at.elapsed() >= followed.every)
            };
            if due && let Err(e) = self.look(followed) {
                tracing::warn!(error = %e, "could not look at the keyring; wrapping with the keys in use");
            }
        }
        self.current()
    }

    /// A keyring holding `version`, looking at the source at once if the one in use
    /// does not: a row may have just been re-wrapped by a rotation in another process.
    pub(super) fn holding(&self, version: KekVersion) -> Option<Arc<Keyring>> {
        let keys = self.current();
        if keys.kek(version).is_some() {
            return Some(keys);
        }
        let followed = self.followed.get()?;
        if let Err(e) = self.look(followed) {
            tracing::warn!(error = %e, %version, "could not look at the keyring for a version it lacks");
        }
        let keys = self.current();
        keys.kek(version).is_some().then_some(keys)
    }

    /// Looks at the source now.
    pub(super) fn refresh(&self) -> Result<Refresh, KeyringError> {
        match self.followed.get() {
            Some(followed) => self.look(followed),
            None => Ok(Refresh::NotFollowing),
        }
    }

    fn look(&self, followed: &Followed) -> Result<Refresh, KeyringError> {
        // One look at a time: concurrent requests that find the keys stale wait for the
        // one look rather than each parsing the file.
        let mut watch = followed
            .watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let stamp = followed.source.stamp()?;
        watch.checked = Some(Instant::now());
        if watch.stamp.as_ref() == Some(&stamp) {
            return Ok(Refresh::Unchanged);
        }
        // A load that fails (the file unreadable for a moment) is tried again at the
        // next look; a keyring that loads but is refused is remembered, so it is
        // reported once rather than on every request, until the source changes again.
        let fresh = followed.source.load()?;
        watch.stamp = Some(stamp);
        let current = self.current();
        let rejected = |reason: String| KeyringError::Rejected {
            source_name: followed.source.describe(),
            reason,
        };
        if !current.same_mac(&fresh) {
            return Err(rejected(
                "it is a different keyring (its MAC key differs); restart with the right keyring"
                    .into(),
            ));
        }
        if fresh.active_version() < current.active_version() {
            return Err(rejected(format!(
                "its active version {} is older than version {} already in use; the active \
                 version only moves forward",
                fresh.active_version(),
                current.active_version()
            )));
        }
        let loaded = Refresh::Loaded {
            active: fresh.active_version(),
            versions: fresh.versions(),
        };
        if fresh.versions() != current.versions()
            || fresh.active_version() != current.active_version()
        {
            tracing::info!(
                active = %fresh.active_version(),
                versions = ?fresh.versions(),
                "took up a changed keyring"
            );
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        Ok(loaded)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::envelope::{SecretPurpose, Vault};
    use crate::keyring::FileKeySource;
    use std::path::Path;
    use tiaki_domain::{AccountId, PatientId, PracticeId};

    const HOUR: Duration = Duration::from_secs(3600);

    fn keyring_file() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        Keyring::load_or_create(&path).unwrap();
        (dir, path)
    }

    fn following(path: &Path, every: Duration) -> Vault {
        let vault = Vault::new(Keyring::load(path).unwrap());
        assert!(vault.follow(Arc::new(FileKeySource::new(path)), every));
        vault
    }

    /// Another process rotates: the running vault opens what it re-wrapped at once
    /// (it looks on meeting a version it lacks), even with a long refresh interval.
    #[test]
    fn a_version_met_in_a_row_is_taken_up_at_once() {
        let (_dir, path) = keyring_file();
        let server = following(&path, HOUR);
        let (patient, practice, me) = (PatientId::new(), PracticeId::new(), AccountId::new());
        let old_key = server.new_patient_key(patient, practice).unwrap();
        let old_seed = server
            .seal_secret(SecretPurpose::Totp, me, b"seed")
            .unwrap();

        assert_eq!(
            FileKeySource::new(&path).add_version().unwrap(),
            KekVersion(2)
        );
        let rotator = Vault::new(Keyring::load(&path).unwrap());
        let new_key = rotator
            .rewrap_patient_key(&old_key, patient, practice)
            .unwrap();
        let new_seed = rotator
            .reseal_secret(SecretPurpose::Totp, me, &old_seed)
            .unwrap();
        assert_eq!(
            (new_key.kek_version, new_seed.kek_version),
            (KekVersion(2), KekVersion(2))
        );

        assert_eq!(server.versions(), vec![KekVersion(1)], "not looked yet");
        let opened = server
            .open_secret(SecretPurpose::Totp, me, &new_seed)
            .unwrap();
        assert_eq!(opened.as_slice(), b"seed");
        assert_eq!(server.versions(), vec![KekVersion(1), KekVersion(2)]);
        // Having taken it up, it wraps with the new version, and the old still opens.
        assert_eq!(
            server
                .rewrap_patient_key(&new_key, patient, practice)
                .unwrap()
                .kek_version,
            KekVersion(2)
        );
        assert!(
            server
                .open_secret(SecretPurpose::Totp, me, &old_seed)
                .is_ok()
        );
        // A version nobody has is still a clear error.
        let bogus = crate::SealedSecret {
            kek_version: KekVersion(9),
            ..new_seed
        };
        assert!(matches!(
            server.open_secret(SecretPurpose::Totp, me, &bogus),
            Err(crate::CryptoError::UnknownKeyVersion(KekVersion(9)))
        ));
    }

    /// Wraps look at the source when the last look is older than the interval, so a
    /// rotation knows how long to wait before no wrap uses the old version.
    #[test]
    fn wrapping_looks_again_once_the_interval_has_passed() {
        let (_dir, path) = keyring_file();
        let fresh = following(&path, Duration::ZERO);
        let lazy = following(&path, HOUR);
        let (patient, practice) = (PatientId::new(), PracticeId::new());
        assert_eq!(
            lazy.new_patient_key(patient, practice).unwrap().kek_version,
            KekVersion(1),
            "the first wrap looks once"
        );
        FileKeySource::new(&path).add_version().unwrap();
        assert_eq!(
            fresh
                .new_patient_key(patient, practice)
                .unwrap()
                .kek_version,
            KekVersion(2)
        );
        assert_eq!(
            lazy.new_patient_key(patient, practice).unwrap().kek_version,
            KekVersion(1),
            "within its interval it wraps with what it holds"
        );
        assert!(
            matches!(lazy.refresh().unwrap(), Refresh::Loaded { active, .. } if active == KekVersion(2))
        );
        assert_eq!(lazy.refresh().unwrap(), Refresh::Unchanged);
        assert_eq!(
            lazy.new_patient_key(patient, practice).unwrap().kek_version,
            KekVersion(2)
        );
        let fixed = Vault::new(Keyring::load(&path).unwrap());
        assert_eq!(fixed.refresh().unwrap(), Refresh::NotFollowing);
    }

    /// A different keyring, or one whose active version went back, is refused and
    /// the keys in use are kept; a removed version leaves memory.
    #[test]
    fn only_the_same_keyring_moving_forward_is_taken_up() {
        let (_dir, path) = keyring_file();
        let original = std::fs::read(&path).unwrap();
        let vault = following(&path, HOUR);
        let me = AccountId::new();
        let sealed = vault.seal_secret(SecretPurpose::Totp, me, b"seed").unwrap();
        let source = FileKeySource::new(&path);
        source.add_version().unwrap();
        vault.refresh().unwrap();
        assert_eq!(vault.active_version(), KekVersion(2));

        // Back to version 1 active (the old file, same MAC key): refused.
        let back = path.with_file_name("back.json");
        std::fs::write(&back, &original).unwrap();
        set_private(&back);
        std::fs::rename(&back, &path).unwrap();
        let err = vault.refresh().unwrap_err();
        assert!(err.to_string().contains("older"), "{err}");
        assert_eq!(vault.active_version(), KekVersion(2));
        assert_eq!(
            vault.refresh().unwrap(),
            Refresh::Unchanged,
            "reported once"
        );

        // Another keyring altogether: refused.
        Keyring::generate().unwrap().save(&path).unwrap();
        let err = vault.refresh().unwrap_err();
        assert!(err.to_string().contains("different keyring"), "{err}");
        assert!(vault.open_secret(SecretPurpose::Totp, me, &sealed).is_ok());

        // The original keyring rotated again, then version 1 retired: it leaves memory.
        std::fs::write(&back, &original).unwrap();
        set_private(&back);
        std::fs::rename(&back, &path).unwrap();
        source.add_version().unwrap();
        vault.refresh().unwrap();
        source.remove_versions(&[KekVersion(1)]).unwrap();
        assert!(
            matches!(vault.refresh().unwrap(), Refresh::Loaded { ref versions, .. } if versions == &[KekVersion(2)])
        );
        assert!(matches!(
            vault.open_secret(SecretPurpose::Totp, me, &sealed),
            Err(crate::CryptoError::UnknownKeyVersion(KekVersion(1)))
        ));
    }

    fn set_private(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}
