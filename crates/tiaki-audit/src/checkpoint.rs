//! Signed checkpoints in the C2SP signed-note format:
//!
//! ```text
//! <origin>
//! <tree size>
//! <base64 root hash>
//!
//! — <key name> <base64(key id ‖ Ed25519 signature)>
//! ```
//!
//! The key id is the first four bytes of SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key);
//! the signature covers the note text above the blank line, newline included. A
//! verifier key is written `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.

use crate::merkle::Hash;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// A tree head: which log, how many leaves, what root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the checkpoint is not in signed-note form: {0}")]
    Malformed(&'static str),
    #[error("no signature on the checkpoint is from the expected key")]
    NoTrustedSignature,
    #[error("the checkpoint's signature does not verify")]
    BadSignature,
    #[error("the verifier key is not valid: {0}")]
    BadKey(&'static str),
}

impl Checkpoint {
    /// The signed body: three lines, each ending in a newline.
    #[must_use]
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    fn parse_body(body: &str) -> Result<Self, NoteError> {
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(NoteError::Malformed("no origin"))?;
        let size = lines
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(NoteError::Malformed("no tree size"))?;
        let root: Hash = lines
            .next()
            .and_then(|r| B64.decode(r).ok())
            .and_then(|r| r.try_into().ok())
            .ok_or(NoteError::Malformed("no root hash"))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([0x01]);
    h.update(public.as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut id = [0u8; 4];
    id.copy_from_slice(digest.get(..4).unwrap_or(&[0; 4]));
    id
}

/// Signs checkpoints for one log.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer from a 32-byte Ed25519 seed (derived from the keyring by the caller).
    #[must_use]
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Self {
        Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(seed),
        }
    }

    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key others use to check this log's checkpoints.
    #[must_use]
    pub fn verifier_key(&self) -> String {
        let public = self.key.verifying_key();
        let mut encoded = vec![0x01];
        encoded.extend_from_slice(public.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, &public)),
            B64.encode(encoded)
        )
    }

    /// The signed note for a checkpoint.
    #[must_use]
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        let signature = self.key.sign(body.as_bytes());
        let mut blob = key_id(&self.name, &self.key.verifying_key()).to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!("{body}\n\u{2014} {} {}\n", self.name, B64.encode(blob))
    }
}

/// Checks notes against one verifier key.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadKey("expected name+id+key"));
        };
        let raw = B64
            .decode(key_b64)
            .map_err(|_| NoteError::BadKey("key is not base64"))?;
        let (alg, public) = raw.split_first().ok_or(NoteError::BadKey("empty key"))?;
        if *alg != 0x01 {
            return Err(NoteError::BadKey("not an Ed25519 key"));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| NoteError::BadKey("key is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| NoteError::BadKey("not a curve point"))?;
        let id = key_id(name, &key);
        if hex::encode(id) != id_hex.to_ascii_lowercase() {
            return Err(NoteError::BadKey("key id does not match the key"));
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// Verifies a signed note and returns the checkpoint it carries.
    pub fn open(&self, note: &str) -> Result<Checkpoint, NoteError> {
        let (body, signatures) = note
            .split_once("\n\n")
            .ok_or(NoteError::Malformed("no blank line"))?;
        let body = format!("{body}\n");
        for line in signatures.lines().filter(|l| !l.is_empty()) {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or(NoteError::Malformed("signature line"))?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or(NoteError::Malformed("signature line"))?;
            if name != self.name {
                continue;
            }
            let blob = B64
                .decode(blob)
                .map_err(|_| NoteError::Malformed("signature is not base64"))?;
            let (id, sig) = blob
                .split_at_checked(4)
                .ok_or(NoteError::Malformed("short signature"))?;
            if id != self.id {
                continue;
            }
            let sig =
                ed25519_dalek::Signature::from_slice(sig).map_err(|_| NoteError::BadSignature)?;
            self.key
                .verify_strict(body.as_bytes(), &sig)
                .map_err(|_| NoteError::BadSignature)?;
            return Checkpoint::parse_body(&body);
        }
        Err(NoteError::NoTrustedSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "tiaki.example/audit".into(),
            size: 42,
            root: [7u8; 32],
        }
    }

    #[test]
    fn signed_notes_round_trip_and_tampering_fails() {
        let signer = NoteSigner::from_seed("tiaki.example/audit", &[9u8; 32]);
        let note = signer.sign(&checkpoint());
        assert!(note.starts_with("tiaki.example/audit\n42\nBwcH"));
        assert!(note.contains("\n\n\u{2014} tiaki.example/audit "));
        let verifier = NoteVerifier::parse(&signer.verifier_key()).unwrap();
        assert_eq!(verifier.open(&note).unwrap(), checkpoint());
        let forged = note.replacen("\n42\n", "\n43\n", 1);
        assert_eq!(verifier.open(&forged), Err(NoteError::BadSignature));
        let other = NoteSigner::from_seed("tiaki.example/audit", &[8u8; 32]);
        assert_eq!(
            NoteVerifier::parse(&other.verifier_key())
                .unwrap()
                .open(&note),
            Err(NoteError::NoTrustedSignature)
        );
        assert!(NoteVerifier::parse("x+00000000+AAAA").is_err());
    }
}
