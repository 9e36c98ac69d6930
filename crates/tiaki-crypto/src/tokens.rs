//! Session tokens and keyed MACs (CSRF tokens, and later signed cookies and content
//! fingerprints).
//!
//! A session token is 256 random bits handed to the browser as base64url; the database
//! keeps only its SHA-256, so a copy of the database cannot be replayed as logins.
//! [`hash_token`] is what the web edge calls on whatever a client presents: it accepts
//! only the exact shape [`generate_token`] produces and never panics.
//!
//! CSRF tokens live on [`MacKey`], which comes from the keyring's MAC key
//! ([`crate::Keyring::mac_key`]; [`crate::Keyring`] and [`crate::Vault`] also have
//! `csrf_token`/`verify_csrf` shortcuts). A CSRF token is
//! `base64url(HMAC-SHA256(mac_key, "tiaki/v1/mac" 0x00 "csrf" 0x00 session-id))`: it
//! is bound to one session, needs no storage, and is compared in constant time.

use crate::error::CryptoError;
use crate::keyring::Secret32;
use crate::random;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;
use tiaki_domain::SessionId;
use zeroize::Zeroizing;

/// Length of a token's text: 32 bytes in unpadded base64url.
const TOKEN_TEXT_LEN: usize = 43;

/// A fresh session token: the text to give the client (base64url, no padding, 256
/// random bits) and the SHA-256 of its raw bytes, which is what the store keeps.
/// Fails only if the OS random source fails, in which case no session is made.
pub fn generate_token() -> Result<(String, [u8; 32]), CryptoError> {
    let raw = random::key()?;
    let text = URL_SAFE_NO_PAD.encode(raw.as_slice());
    Ok((text, Sha256::digest(raw.as_slice()).into()))
}

/// The stored hash of a presented token, or `None` if it is not exactly what
/// [`generate_token`] makes (43 base64url characters encoding 32 bytes). Total: no input
/// makes it panic, and oversized input is rejected before any decoding.
#[must_use]
pub fn hash_token(presented: &str) -> Option<[u8; 32]> {
    let raw = decode_32(presented)?;
    Some(Sha256::digest(raw.as_slice()).into())
}

fn decode_32(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    if text.len() != TOKEN_TEXT_LEN {
        return None;
    }
    let mut raw = Zeroizing::new([0u8; 32]);
    // The engine rejects padding and non-canonical trailing bits, so each token has
    // exactly one accepted spelling.
    match URL_SAFE_NO_PAD.decode_slice(text, raw.as_mut_slice()) {
        Ok(32) => Some(raw),
        _ => None,
    }
}

/// HMAC-SHA256 keyed with a 256-bit secret. HMAC zero-pads keys shorter than the hash's
/// block, so padding here gives the standard result without a fallible constructor.
pub(crate) fn keyed_hmac(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut padded = Zeroizing::new([0u8; 64]);
    for (dst, src) in padded.iter_mut().zip(key) {
        *dst = *src;
    }
    <Hmac<Sha256> as KeyInit>::new((&*padded).into())
}

/// The keyring's MAC key, ready to use. Cheap to clone; `Debug` shows nothing secret.
#[derive(Clone)]
pub struct MacKey {
    keyed: Hmac<Sha256>,
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey([redacted])")
    }
}

impl MacKey {
    pub(crate) fn new(secret: &Secret32) -> Self {
        Self {
            keyed: keyed_hmac(secret.expose()),
        }
    }

    /// A MAC over `message` for one `purpose` (a fixed label such as `"cookie"`); the
    /// purpose is part of the MAC input, so a tag made for one use is useless for another.
    #[must_use]
    pub fn tag(&self, purpose: &'static str, message: &[u8]) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(b"tiaki/v1/mac\0");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the MAC of `message` for `purpose`, compared in constant time.
    #[must_use]
    pub fn verify_tag(&self, purpose: &'static str, message: &[u8], tag: &[u8]) -> bool {
        self.tag(purpose, message).ct_eq(tag).into()
    }

    /// The CSRF token for a session: embed it in forms, check it with
    /// [`MacKey::verify_csrf`]. Deterministic, so it needs no storage.
    #[must_use]
    pub fn csrf_token(&self, session: &SessionId) -> String {
        URL_SAFE_NO_PAD.encode(self.tag("csrf", session.as_uuid().as_bytes()))
    }

    /// Whether `presented` is this session's CSRF token. Malformed input is simply false.
    #[must_use]
    pub fn verify_csrf(&self, session: &SessionId, presented: &str) -> bool {
        match decode_32(presented) {
            Some(raw) => self.verify_tag("csrf", session.as_uuid().as_bytes(), raw.as_slice()),
            None => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn hmac_with_a_padded_key_is_standard_hmac() {
        let key = [7u8; 32];
        let mut ours = keyed_hmac(&key);
        ours.update(b"message");
        let mut standard = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        standard.update(b"message");
        assert_eq!(
            ours.finalize().into_bytes(),
            standard.finalize().into_bytes()
        );
    }

    #[test]
    fn tokens_have_one_spelling() {
        let (text, hash) = generate_token().unwrap();
        assert_eq!(text.len(), TOKEN_TEXT_LEN);
        assert_eq!(hash_token(&text), Some(hash));
        // 43 characters carry 258 bits for 256: the last character has 2 spare bits, so
        // only 16 of the 64 characters may end a token, each decoding differently.
        let last = text.chars().last().unwrap();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut twins = 0;
        for c in alphabet.chars().filter(|c| *c != last) {
            let twin = format!("{}{c}", &text[..TOKEN_TEXT_LEN - 1]);
            if let Some(h) = hash_token(&twin) {
                assert_ne!(h, hash);
                twins += 1;
            }
        }
        assert_eq!(twins, 15);
    }
}
