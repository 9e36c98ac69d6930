//! The keyring: versioned key-encryption keys (KEKs) and the MAC key, held outside the
//! database.
//!
//! The database stores only wrapped keys, each tagged with the KEK version that wrapped
//! it; the keys that unwrap them live here. By default that is a file beside the data
//! (generated on first start, so one command runs Tiaki); in production the KEKs belong
//! in a KMS, and creating a keyring file says so loudly in the log.
//!
//! Exactly one KEK version is *active* (it wraps new patient keys); *retired* versions
//! still unwrap, so a rotation can re-wrap rows online while both are present, and are
//! removed ([`Keyring::remove_version`]) once no row needs them. The MAC key signs CSRF
//! tokens and cookies (see [`MacKey`]) and never changes. The file format is documented
//! in `file.rs`; [`KeySource`] (`source.rs`) is the seam a running vault follows and a
//! rotation changes — the file by default, a KMS adapter in production.

mod file;
mod source;

pub use source::{FileKeySource, KeyLock, KeySource, SourceStamp};

use crate::error::CryptoError;
use crate::random;
use crate::tokens::MacKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use tiaki_domain::SessionId;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The version number of a key-encryption key. Stored beside every wrapped patient key so
/// the right KEK is found after a rotation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KekVersion(pub u32);

impl fmt::Display for KekVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a keyring could not be loaded, created or saved. Messages name the file and what
/// to do; none contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("could not read the keyring at {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write the keyring at {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the keyring at {} is not valid: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "the keyring at {} can be read by other users (mode {mode:03o}); it must be readable \
         by its owner only — run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "the keyring at {} does not contain key version {version} that the database needs",
        path.display()
    )]
    MissingVersion { path: PathBuf, version: KekVersion },
    #[error("the operating system's random number generator failed")]
    Random,
    /// Another process holds the rotation lock of this key source.
    #[error(
        "another `tiaki keys` command is changing the keyring at {source_name}; wait for it \
         to finish (a killed one releases its lock at once)"
    )]
    Busy { source_name: String },
    /// A reloaded keyring was refused, and the keys in use were kept.
    #[error("the keyring at {source_name} was not taken up: {reason}")]
    Rejected { source_name: String, reason: String },
    /// A change a rotation asked for would break the keyring.
    #[error("the keyring at {} cannot be changed so: {reason}", path.display())]
    Refused { path: PathBuf, reason: String },
}

impl From<CryptoError> for KeyringError {
    // Only randomness can fail while generating keys.
    fn from(_: CryptoError) -> Self {
        Self::Random
    }
}

/// A 256-bit secret: wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Secret32([u8; 32]);

impl Secret32 {
    pub(crate) fn generate() -> Result<Self, CryptoError> {
        let key = random::key()?;
        Ok(Self(*key))
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Whether a KEK wraps new keys or only unwraps old ones.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum KekStatus {
    Active,
    Retired,
}

/// Versioned KEKs and the MAC key. `Debug` shows versions only.
pub struct Keyring {
    /// Where it was loaded from, for error messages; `None` for an in-memory keyring.
    path: Option<PathBuf>,
    keks: BTreeMap<KekVersion, Secret32>,
    active: KekVersion,
    mac_secret: Secret32,
    mac: MacKey,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("path", &self.path)
            .field("versions", &self.versions())
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Loads the keyring at `path`, or creates a new one there (with its parent
    /// directories) if there is none. Returns whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), KeyringError> {
        match file::read(path)? {
            Some(keyring) => Ok((keyring, false)),
            None => {
                let fresh = Self::generate()?;
                if file::create(path, &fresh)? {
                    tracing::warn!(
                        path = %path.display(),
                        "created a new keyring file: this is fine for development and demos, \
                         but production key-encryption keys belong in a KMS, and losing this \
                         file loses every document"
                    );
                    Ok((fresh.located(path), true))
                } else {
                    // Another process created it between our look and our write: use theirs.
                    let theirs = file::read(path)?.ok_or_else(|| KeyringError::Invalid {
                        path: path.to_owned(),
                        reason: "it vanished while being created".into(),
                    })?;
                    Ok((theirs, false))
                }
            }
        }
    }

    /// Loads an existing keyring.
    pub fn load(path: &Path) -> Result<Self, KeyringError> {
        file::read(path)?.ok_or_else(|| KeyringError::Read {
            path: path.to_owned(),
            source: std::io::ErrorKind::NotFound.into(),
        })
    }

    /// A fresh keyring held only in memory: version 1 active and a new MAC key. For tests
    /// and tools; the server uses [`Keyring::load_or_create`].
    pub fn generate() -> Result<Self, KeyringError> {
        let mut keks = BTreeMap::new();
        keks.insert(KekVersion(1), Secret32::generate()?);
        Ok(Self::from_parts(keks, KekVersion(1), Secret32::generate()?))
    }

    /// Writes the keyring to `path` atomically (temporary file, fsync, rename), owner-only.
    pub fn save(&self, path: &Path) -> Result<(), KeyringError> {
        file::replace(path, self)
    }

    /// Adds a new KEK version and makes it active; the previous active version is
    /// retired (it still unwraps, it no longer wraps). Call [`Keyring::save`] to keep it.
    pub fn add_version(&mut self) -> Result<KekVersion, KeyringError> {
        let next = self
            .keks
            .keys()
            .next_back()
            .and_then(|v| v.0.checked_add(1))
            .map(KekVersion)
            .ok_or_else(|| KeyringError::Invalid {
                path: self.shown_path(),
                reason: "no more key versions can be added".into(),
            })?;
        self.keks.insert(next, Secret32::generate()?);
        self.active = next;
        Ok(next)
    }

    /// Removes a retired version for good: call it only once no row still needs it
    /// (`tiaki keys retire` counts first). The active version is refused. Returns
    /// whether the version was there. Call [`Keyring::save`] to keep the change.
    pub fn remove_version(&mut self, version: KekVersion) -> Result<bool, KeyringError> {
        if version == self.active {
            return Err(KeyringError::Refused {
                path: self.shown_path(),
                reason: format!("version {version} is the active version"),
            });
        }
        Ok(self.keks.remove(&version).is_some())
    }

    /// Whether `other` has the same MAC key: the mark of the same keyring, as every
    /// CSRF token, cookie and the audit log's signing key derive from it.
    pub(crate) fn same_mac(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.mac_secret
            .expose()
            .ct_eq(other.mac_secret.expose())
            .into()
    }

    /// The version that wraps new patient keys.
    #[must_use]
    pub fn active_version(&self) -> KekVersion {
        self.active
    }

    /// Every version held, oldest first.
    #[must_use]
    pub fn versions(&self) -> Vec<KekVersion> {
        self.keks.keys().copied().collect()
    }

    /// Where the keyring was loaded from, if from a file.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Checks, at start-up, that every KEK version the database uses is here, so a wrong
    /// or stale keyring file is reported at once rather than on some patient's first read.
    pub fn require_versions(
        &self,
        needed: impl IntoIterator<Item = KekVersion>,
    ) -> Result<(), KeyringError> {
        match needed.into_iter().find(|v| !self.keks.contains_key(v)) {
            Some(version) => Err(KeyringError::MissingVersion {
                path: self.shown_path(),
                version,
            }),
            None => Ok(()),
        }
    }

    /// The MAC handle (CSRF tokens, cookies, fingerprints). Cheap to clone.
    #[must_use]
    pub fn mac_key(&self) -> MacKey {
        self.mac.clone()
    }

    /// A CSRF token bound to `session`. See [`MacKey::csrf_token`].
    #[must_use]
    pub fn csrf_token(&self, session: &SessionId) -> String {
        self.mac.csrf_token(session)
    }

    /// Whether `presented` is the CSRF token for `session`. See [`MacKey::verify_csrf`].
    #[must_use]
    pub fn verify_csrf(&self, session: &SessionId, presented: &str) -> bool {
        self.mac.verify_csrf(session, presented)
    }

    pub(crate) fn kek(&self, version: KekVersion) -> Option<&Secret32> {
        self.keks.get(&version)
    }

    pub(crate) fn active_kek(&self) -> Option<(KekVersion, &Secret32)> {
        self.keks.get(&self.active).map(|k| (self.active, k))
    }

    pub(crate) fn status(&self, version: KekVersion) -> KekStatus {
        if version == self.active {
            KekStatus::Active
        } else {
            KekStatus::Retired
        }
    }

    pub(crate) fn mac_secret(&self) -> &Secret32 {
        &self.mac_secret
    }

    fn from_parts(
        keks: BTreeMap<KekVersion, Secret32>,
        active: KekVersion,
        mac_secret: Secret32,
    ) -> Self {
        let mac = MacKey::new(&mac_secret);
        Self {
            path: None,
            keks,
            active,
            mac_secret,
            mac,
        }
    }

    fn located(mut self, path: &Path) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    fn shown_path(&self) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| PathBuf::from("(in memory)"))
    }
}
