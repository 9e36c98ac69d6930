//! Where the keyring lives, as seen by a running process and by a key rotation.
//!
//! A [`KeySource`] is the seam between Tiaki and its key store. The default is a
//! [`FileKeySource`], the keyring file beside the data; in production a KMS adapter
//! implements the same five operations (a version stamp, load, add a version, remove
//! versions, an exclusive lock) and nothing else in Tiaki changes.
//!
//! The stamp is what makes following the source cheap: a running [`crate::Vault`]
//! asks for it about once a second (a `stat` of the file) and parses the keyring only
//! when it changed. For the file, the stamp includes the inode, and every save replaces
//! the file by a rename, so a new keyring always has a new stamp.

use super::{KekVersion, Keyring, KeyringError};
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Changes whenever the keys in a source may have changed. Opaque.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceStamp(Vec<u64>);

impl SourceStamp {
    /// A stamp made of any numbers that change with the source (for adapters).
    #[must_use]
    pub fn new(parts: Vec<u64>) -> Self {
        Self(parts)
    }
}

/// Holds other rotations off a key source until dropped.
pub struct KeyLock {
    _held: Box<dyn Send + Sync>,
}

impl KeyLock {
    /// A lock that lasts as long as `held` does (for adapters: a lease, a file handle).
    #[must_use]
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        Self {
            _held: Box::new(held),
        }
    }
}

impl fmt::Debug for KeyLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyLock")
    }
}

/// A store of key-encryption keys that a process can follow and a rotation can change.
/// Every change must be durable before the call returns: a rotation relies on it.
pub trait KeySource: Send + Sync + fmt::Debug {
    /// Names the source in messages (a path, a KMS key id). Never a secret.
    fn describe(&self) -> String;
    /// A cheap stamp that changes whenever the keys may have changed.
    fn stamp(&self) -> Result<SourceStamp, KeyringError>;
    /// The keyring as it is now.
    fn load(&self) -> Result<Keyring, KeyringError>;
    /// Adds a new KEK version and makes it the active one; the previous versions stay
    /// (they still unwrap). Returns the new version.
    fn add_version(&self) -> Result<KekVersion, KeyringError>;
    /// Removes `versions` for good. Refuses the active version; versions already gone
    /// are no error (a rotation resumed after a crash may ask twice).
    fn remove_versions(&self, versions: &[KekVersion]) -> Result<(), KeyringError>;
    /// Takes the source's rotation lock without waiting; `Busy` if another process
    /// holds it.
    fn lock(&self) -> Result<KeyLock, KeyringError>;
}

/// The keyring file (format in `file.rs`).
#[derive(Clone, Debug)]
pub struct FileKeySource {
    path: PathBuf,
}

impl FileKeySource {
    #[must_use]
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `keyring.json` -> `.keyring.json.lock`, beside it.
    fn lock_path(&self) -> PathBuf {
        let name = self
            .path
            .file_name()
            .map_or_else(|| "keyring".into(), |n| n.to_string_lossy().into_owned());
        self.path.with_file_name(format!(".{name}.lock"))
    }
}

impl KeySource for FileKeySource {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn stamp(&self) -> Result<SourceStamp, KeyringError> {
        let meta = std::fs::metadata(&self.path).map_err(|source| KeyringError::Read {
            path: self.path.clone(),
            source,
        })?;
        Ok(SourceStamp(stamp_parts(&meta)))
    }

    fn load(&self) -> Result<Keyring, KeyringError> {
        Keyring::load(&self.path)
    }

    fn add_version(&self) -> Result<KekVersion, KeyringError> {
        let mut keyring = Keyring::load(&self.path)?;
        let version = keyring.add_version()?;
        keyring.save(&self.path)?;
        Ok(version)
    }

    fn remove_versions(&self, versions: &[KekVersion]) -> Result<(), KeyringError> {
        let mut keyring = Keyring::load(&self.path)?;
        let mut changed = false;
        for &version in versions {
            changed |= keyring.remove_version(version)?;
        }
        if changed {
            keyring.save(&self.path)?;
        }
        Ok(())
    }

    fn lock(&self) -> Result<KeyLock, KeyringError> {
        let path = self.lock_path();
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file: File = options.open(&path).map_err(|source| KeyringError::Write {
            path: path.clone(),
            source,
        })?;
        // An advisory lock the kernel drops when the process dies, so a rotation killed
        // midway never leaves a stale lock behind.
        match file.try_lock() {
            Ok(()) => Ok(KeyLock::new(file)),
            Err(TryLockError::WouldBlock) => Err(KeyringError::Busy {
                source_name: self.describe(),
            }),
            Err(TryLockError::Error(source)) => Err(KeyringError::Write { path, source }),
        }
    }
}

#[cfg(unix)]
fn stamp_parts(meta: &std::fs::Metadata) -> Vec<u64> {
    use std::os::unix::fs::MetadataExt;
    // Bit patterns, not values: only equality matters.
    #[allow(clippy::cast_sign_loss)]
    let parts = vec![
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
        meta.ctime() as u64,
        meta.ctime_nsec() as u64,
    ];
    parts
}

#[cfg(not(unix))]
fn stamp_parts(meta: &std::fs::Metadata) -> Vec<u64> {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    vec![meta.len(), modified]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn fresh() -> (tempfile::TempDir, FileKeySource) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        Keyring::load_or_create(&path).unwrap();
        (dir, FileKeySource::new(&path))
    }

    #[test]
    fn adding_and_removing_versions_is_durable_and_changes_the_stamp() {
        let (_dir, source) = fresh();
        let before = source.stamp().unwrap();
        assert_eq!(source.stamp().unwrap(), before, "a stamp is stable");
        let mac = source.load().unwrap().mac_secret().expose().to_owned();
        assert_eq!(source.add_version().unwrap(), KekVersion(2));
        let after = source.stamp().unwrap();
        assert_ne!(after, before);
        let keyring = source.load().unwrap();
        assert_eq!(keyring.versions(), vec![KekVersion(1), KekVersion(2)]);
        assert_eq!(keyring.active_version(), KekVersion(2));
        assert_eq!(keyring.mac_secret().expose(), &mac, "the MAC key stays");

        let err = source.remove_versions(&[KekVersion(2)]).unwrap_err();
        assert!(err.to_string().contains("active"), "{err}");
        assert_eq!(source.stamp().unwrap(), after, "a refusal writes nothing");
        source.remove_versions(&[KekVersion(1)]).unwrap();
        source.remove_versions(&[KekVersion(1)]).unwrap();
        let keyring = source.load().unwrap();
        assert_eq!(keyring.versions(), vec![KekVersion(2)]);
        assert_eq!(source.add_version().unwrap(), KekVersion(3));
    }

    #[test]
    fn one_rotation_at_a_time() {
        let (_dir, source) = fresh();
        let held = source.lock().unwrap();
        let err = source.lock().unwrap_err();
        assert!(matches!(err, KeyringError::Busy { .. }), "{err}");
        drop(held);
        assert!(source.lock().is_ok(), "released on drop");
    }
}
