//! The keyring file: its format, and reading and writing it safely.
//!
//! The file is JSON, readable and writable by its owner only (mode 0600):
//!
//! ```json
//! {
//!   "format": "tiaki-keyring/v1",
//!   "mac_key": "<64 hex digits>",
//!   "mac_key_check": "<16 hex digits>",
//!   "keks": [
//!     { "version": 1, "status": "retired", "key": "<64 hex digits>", "check": "<16 hex digits>" },
//!     { "version": 2, "status": "active",  "key": "<64 hex digits>", "check": "<16 hex digits>" }
//!   ]
//! }
//! ```
//!
//! Each key carries a *key-check value*: the first 8 bytes of
//! `HMAC-SHA256(key, "tiaki/v1/key-check" 0x00 purpose 0x00 version-u32-be)`, where
//! purpose is `kek` (with the KEK's version) or `mac` (version 0). A flipped digit, a
//! truncated key or a key pasted under the wrong version is caught when the file is
//! loaded, not when the first patient's document fails to open. The check value reveals
//! nothing useful about the key (it is a MAC made with it).
//!
//! Rules checked on load: the format string, at least one KEK, versions ≥ 1 and unique,
//! exactly one `active`, every key 32 bytes of hex with a matching check value. A file
//! that group or others can access is refused outright rather than "fixed", because it
//! may already have been read.
//!
//! Writes go to a temporary file created with mode 0600 in the same directory (so there
//! is no moment the keys are world-readable), are fsynced, then moved into place; a new
//! keyring is linked into place only if none exists, so two processes starting at once
//! cannot overwrite each other's keys.

use super::{KekStatus, KekVersion, Keyring, KeyringError, Secret32};
use crate::random;
use crate::tokens::keyed_hmac;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

const FORMAT: &str = "tiaki-keyring/v1";
/// Far larger than any real keyring; stops a wrong path (a disk image, a log) from being
/// read into memory whole.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
struct KeyringFile {
    format: String,
    mac_key: String,
    mac_key_check: String,
    keks: Vec<KekEntry>,
}

#[derive(Serialize, Deserialize, Zeroize)]
#[serde(deny_unknown_fields)]
struct KekEntry {
    version: u32,
    #[zeroize(skip)]
    status: KekStatus,
    key: String,
    check: String,
}

/// Reads and validates the keyring at `path`; `None` if there is no file.
pub(super) fn read(path: &Path) -> Result<Option<Keyring>, KeyringError> {
    let read_err = |source| KeyringError::Read {
        path: path.to_owned(),
        source,
    };
    let invalid = |reason: String| KeyringError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    // Checked on the open handle, so the file checked is the file read.
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(invalid("it is not a regular file".into()));
    }
    check_owner_only(path, &meta)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(invalid(format!(
            "it is {} bytes long, far more than a keyring",
            meta.len()
        )));
    }
    // Reserve up front so the text holding the keys is never reallocated (a reallocation
    // would leave an unwiped copy behind).
    let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(64);
    let mut text = Zeroizing::new(String::with_capacity(capacity));
    file.read_to_string(&mut text).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            invalid("it is not UTF-8 text".into())
        } else {
            read_err(e)
        }
    })?;
    parse(&text)
        .map(|keyring| Some(keyring.located(path)))
        .map_err(invalid)
}

/// Writes a new keyring only if no file exists at `path`. Returns whether it wrote.
pub(super) fn create(path: &Path, keyring: &Keyring) -> Result<bool, KeyringError> {
    let contents = serialize(keyring);
    write_atomically(path, &contents, Placement::OnlyIfAbsent).map_err(|source| {
        KeyringError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// Replaces (or creates) the keyring at `path`.
pub(super) fn replace(path: &Path, keyring: &Keyring) -> Result<(), KeyringError> {
    let contents = serialize(keyring);
    write_atomically(path, &contents, Placement::Replace)
        .map(|_| ())
        .map_err(|source| KeyringError::Write {
            path: path.to_owned(),
            source,
        })
}

#[cfg(unix)]
fn check_owner_only(path: &Path, meta: &fs::Metadata) -> Result<(), KeyringError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyringError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_path: &Path, _meta: &fs::Metadata) -> Result<(), KeyringError> {
    Ok(())
}

fn parse(text: &str) -> Result<Keyring, String> {
    // serde_json's own messages can quote the offending value, so only its category
    // and position are reported: a key must never reach a log through an error.
    let file: KeyringFile = serde_json::from_str(text).map_err(|e| {
        format!(
            "it is not a keyring file ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    if file.format != FORMAT {
        return Err(format!("its format is not \"{FORMAT}\""));
    }
    let mac_secret = decode_key(&file.mac_key, &file.mac_key_check, Purpose::Mac)
        .map_err(|why| format!("the MAC key {why}"))?;
    let mut keks = BTreeMap::new();
    let mut active = None;
    for entry in &file.keks {
        let version = KekVersion(entry.version);
        if entry.version == 0 {
            return Err("key version 0 is not allowed (versions start at 1)".into());
        }
        let key = decode_key(&entry.key, &entry.check, Purpose::Kek(version))
            .map_err(|why| format!("key version {version} {why}"))?;
        if keks.insert(version, key).is_some() {
            return Err(format!("key version {version} appears twice"));
        }
        if entry.status == KekStatus::Active && active.replace(version).is_some() {
            return Err("more than one key version is marked active".into());
        }
    }
    let active = active.ok_or("no key version is marked active")?;
    Ok(Keyring::from_parts(keks, active, mac_secret))
}

#[derive(Clone, Copy)]
enum Purpose {
    Kek(KekVersion),
    Mac,
}

fn decode_key(hex_key: &str, hex_check: &str, purpose: Purpose) -> Result<Secret32, String> {
    let mut bytes = Secret32([0u8; 32]);
    hex::decode_to_slice(hex_key, &mut bytes.0)
        .map_err(|_| "is not 64 hexadecimal digits".to_owned())?;
    if !hex_check.eq_ignore_ascii_case(&check_value(&bytes, purpose)) {
        return Err("does not match its check value (the file is corrupt or was edited)".into());
    }
    Ok(bytes)
}

fn check_value(key: &Secret32, purpose: Purpose) -> String {
    let mut mac = keyed_hmac(key.expose());
    mac.update(b"tiaki/v1/key-check\0");
    match purpose {
        Purpose::Kek(version) => {
            mac.update(b"kek\0");
            mac.update(&version.0.to_be_bytes());
        }
        Purpose::Mac => {
            mac.update(b"mac\0");
            mac.update(&0u32.to_be_bytes());
        }
    }
    let tag = mac.finalize().into_bytes();
    hex::encode(tag.get(..8).unwrap_or_default())
}

fn serialize(keyring: &Keyring) -> Zeroizing<Vec<u8>> {
    let file = KeyringFile {
        format: FORMAT.to_owned(),
        mac_key: hex::encode(keyring.mac_secret().expose()),
        mac_key_check: check_value(keyring.mac_secret(), Purpose::Mac),
        keks: keyring
            .versions()
            .into_iter()
            .filter_map(|version| {
                let key = keyring.kek(version)?;
                Some(KekEntry {
                    version: version.0,
                    status: keyring.status(version),
                    key: hex::encode(key.expose()),
                    check: check_value(key, Purpose::Kek(version)),
                })
            })
            .collect(),
    };
    // Sized generously up front so the buffer holding keys is never reallocated.
    let mut out = Zeroizing::new(Vec::with_capacity(1024 + 256 * file.keks.len()));
    // Writing JSON into a Vec cannot fail for these plain types; an empty file would be
    // caught on the next load anyway.
    let _ = serde_json::to_writer_pretty(&mut *out, &file);
    out.push(b'\n');
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    Replace,
    OnlyIfAbsent,
}

/// Writes `contents` to a fresh owner-only temporary file beside `path`, fsyncs it, then
/// moves it into place. Returns false if `OnlyIfAbsent` found a file already there.
fn write_atomically(path: &Path, contents: &[u8], placement: Placement) -> std::io::Result<bool> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the keyring path has no file name"))?;
    let mut suffix = [0u8; 8];
    random::fill(&mut suffix).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        hex::encode(suffix)
    ));
    let result = write_then_place(&tmp, path, contents, placement);
    // Whatever happened, the temporary file must not linger (on success it was renamed
    // or linked, and removing the leftover link is what we want).
    if tmp.exists() {
        let _ = fs::remove_file(&tmp);
    }
    let placed = result?;
    File::open(&dir)?.sync_all()?;
    Ok(placed)
}

fn write_then_place(
    tmp: &Path,
    path: &Path,
    contents: &[u8],
    placement: Placement,
) -> std::io::Result<bool> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    match placement {
        Placement::Replace => fs::rename(tmp, path).map(|()| true),
        // A hard link fails if the target exists: an atomic "create if absent".
        Placement::OnlyIfAbsent => match fs::hard_link(tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        },
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn a_keyring_survives_serialisation() {
        let mut keyring = Keyring::generate().unwrap();
        keyring.add_version().unwrap();
        let text = serialize(&keyring);
        let back = parse(std::str::from_utf8(&text).unwrap()).unwrap();
        assert_eq!(back.versions(), vec![KekVersion(1), KekVersion(2)]);
        assert_eq!(back.active_version(), KekVersion(2));
        for v in back.versions() {
            assert_eq!(
                back.kek(v).unwrap().expose(),
                keyring.kek(v).unwrap().expose()
            );
        }
        assert_eq!(back.mac_secret().expose(), keyring.mac_secret().expose());
    }

    #[test]
    fn a_key_moved_to_another_version_is_caught() {
        let mut keyring = Keyring::generate().unwrap();
        keyring.add_version().unwrap();
        let text = String::from_utf8(serialize(&keyring).to_vec()).unwrap();
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keks = json["keks"].as_array_mut().unwrap();
        let (a, b) = (keks[0]["key"].clone(), keks[1]["key"].clone());
        keks[0]["key"] = b;
        keks[1]["key"] = a;
        let err = parse(&json.to_string()).err().unwrap();
        assert!(err.contains("check value"), "{err}");
    }

    #[test]
    fn parse_errors_never_quote_the_file() {
        let secret = "deadbeef".repeat(8);
        let text = format!(r#"{{"format": "{FORMAT}", "mac_key": {secret}1}}"#);
        let err = parse(&text).err().unwrap();
        assert!(!err.contains("deadbeef"), "{err}");
        let text = format!(r#"{{"format": "{FORMAT}", "{secret}": 1}}"#);
        let err = parse(&text).err().unwrap();
        assert!(!err.contains("deadbeef"), "{err}");
    }
}
