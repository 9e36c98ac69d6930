//! Second factors: TOTP authenticators (RFC 6238) and one-time recovery codes.
//!
//! TOTP here is what every authenticator app speaks: HMAC-SHA1, 6 digits, 30-second
//! steps, a 160-bit random seed, and one step of clock skew either way. [`TotpSecret::check`]
//! returns the step a code matched, so the caller can refuse a second use of the same
//! step (RFC 6238 §5.2): that bookkeeping lives in the store, shared by every node.
//!
//! A recovery code is 128 random bits shown once as 26 base32 characters in groups
//! (`ABCDE-FGHIJ-KLMNO-PQRST-UVWXYZ`); only its SHA-256 is stored. A hash this fast is
//! enough because the code is random, not chosen by a person: there is nothing to
//! guess but 2^128 possibilities.

use crate::error::CryptoError;
use crate::random;
use sha2::{Digest, Sha256};
use std::fmt;
use totp_rs::{Builder, Secret};
use zeroize::Zeroizing;

/// Bytes in a TOTP seed: 160 bits, as RFC 4226 recommends.
pub const TOTP_SECRET_LEN: usize = 20;
/// Seconds in one TOTP step.
pub const TOTP_STEP_SECONDS: u64 = 30;
const TOTP_DIGITS: usize = 6;
const RECOVERY_CODE_BYTES: usize = 16;
/// Base32 characters in a recovery code (128 bits, no padding).
const RECOVERY_CODE_CHARS: usize = 26;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A TOTP seed. Wiped on drop; `Debug` shows nothing.
#[derive(Clone)]
pub struct TotpSecret(Zeroizing<[u8; TOTP_SECRET_LEN]>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

impl TotpSecret {
    /// A fresh random seed.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut seed = Zeroizing::new([0u8; TOTP_SECRET_LEN]);
        random::fill(seed.as_mut_slice())?;
        Ok(Self(seed))
    }

    /// A seed from its raw bytes (as opened from the store); `None` unless exactly 20.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let raw: [u8; TOTP_SECRET_LEN] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(raw)))
    }

    /// A seed from the base32 text an authenticator is given (spaces and case ignored).
    #[must_use]
    pub fn from_base32(text: &str) -> Option<Self> {
        let cleaned: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let secret = Secret::try_from_base32(cleaned).ok()?;
        Self::from_bytes(secret.as_bytes())
    }

    /// The raw seed, to be sealed before it is stored.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// The seed as base32 (RFC 4648, no padding): what a person types into an
    /// authenticator app when they cannot scan the QR code.
    #[must_use]
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(base32(self.0.as_slice()))
    }

    /// The `otpauth://` URI authenticator apps read from a QR code.
    #[must_use]
    pub fn otpauth_uri(&self, issuer: &str, account_name: &str) -> Zeroizing<String> {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let issuer_enc = utf8_percent_encode(issuer, NON_ALPHANUMERIC);
        let account_enc = utf8_percent_encode(account_name, NON_ALPHANUMERIC);
        Zeroizing::new(format!(
            "otpauth://totp/{issuer_enc}:{account_enc}?secret={}&issuer={issuer_enc}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECONDS}",
            self.to_base32().as_str()
        ))
    }

    /// The step `code` is valid for at `unix_seconds`, allowing one step of skew either
    /// way; `None` if it matches none. Spaces in the code are ignored; anything but six
    /// digits is simply wrong. Comparison is constant-time.
    #[must_use]
    pub fn check(&self, code: &str, unix_seconds: u64) -> Option<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.totp().ok()?.check(&code, unix_seconds)
    }

    /// The code an authenticator shows at `unix_seconds` (for tests and tools).
    pub fn code_at(&self, unix_seconds: u64) -> Result<String, CryptoError> {
        Ok(self.totp()?.generate(unix_seconds).to_string())
    }

    fn totp(&self) -> Result<totp_rs::Totp, CryptoError> {
        Builder::new()
            .with_secret(Secret::new_stack(*self.0))
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(TOTP_STEP_SECONDS)
            .build()
            .map_err(|_| CryptoError::Misuse("the TOTP parameters were refused"))
    }
}

/// The step a Unix time falls in.
#[must_use]
pub fn totp_step(unix_seconds: u64) -> u64 {
    unix_seconds / TOTP_STEP_SECONDS
}

/// A fresh recovery code: the text to show the person once, and the hash to store.
pub fn generate_recovery_code() -> Result<(Zeroizing<String>, [u8; 32]), CryptoError> {
    let mut raw = Zeroizing::new([0u8; RECOVERY_CODE_BYTES]);
    random::fill(raw.as_mut_slice())?;
    let text = Zeroizing::new(base32(raw.as_slice()));
    let hash = recovery_hash(&text);
    let mut shown = Zeroizing::new(String::with_capacity(RECOVERY_CODE_CHARS + 4));
    for (i, c) in text.chars().enumerate() {
        if i > 0 && i % 5 == 0 && i < 25 {
            shown.push('-');
        }
        shown.push(c);
    }
    Ok((shown, hash))
}

/// The stored hash of a presented recovery code, or `None` if it cannot be one (dashes,
/// spaces and case are forgiven; anything else of the wrong shape is refused before
/// hashing).
#[must_use]
pub fn hash_recovery_code(presented: &str) -> Option<[u8; 32]> {
    if presented.len() > 64 {
        return None;
    }
    let cleaned: Zeroizing<String> = Zeroizing::new(
        presented
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    let valid =
        cleaned.len() == RECOVERY_CODE_CHARS && cleaned.bytes().all(|b| BASE32.contains(&b));
    valid.then(|| recovery_hash(&cleaned))
}

fn recovery_hash(normalized: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"tiaki/v1/recovery-code\0");
    hasher.update(normalized.as_bytes());
    hasher.finalize().into()
}

/// RFC 4648 base32 without padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u16 = 0;
    let mut bits = 0u8;
    let symbol =
        |index: u16| char::from(BASE32.get(usize::from(index & 31)).copied().unwrap_or(b'A'));
    for byte in bytes {
        buffer = (buffer << 8) | u16::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(symbol(buffer >> bits));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(symbol(buffer << (5 - bits)));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        let seed = TotpSecret::from_bytes(&[7u8; 20]).unwrap();
        assert_eq!(
            TotpSecret::from_base32(&seed.to_base32())
                .unwrap()
                .as_bytes(),
            seed.as_bytes()
        );
    }

    #[test]
    fn rfc_6238_test_vector() {
        // Appendix B, SHA-1 seed "12345678901234567890", T = 59 s: 94287082 (8 digits),
        // whose last six digits are what a 6-digit authenticator shows.
        let seed = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        assert_eq!(seed.code_at(59).unwrap(), "287082");
        assert_eq!(seed.check("287082", 59), Some(1));
        assert_eq!(seed.check("287 082", 59), Some(1));
        assert_eq!(seed.check("287082", 59 + 30), Some(1), "one step of skew");
        assert_eq!(seed.check("287082", 59 + 90), None);
        for junk in ["", "28708", "2870822", "+87082", "abcdef", "２８７０８２"] {
            assert_eq!(seed.check(junk, 59), None, "{junk:?}");
        }
    }

    #[test]
    fn recovery_codes_are_forgiving_about_format_only() {
        let (shown, hash) = generate_recovery_code().unwrap();
        assert_eq!(shown.len(), 26 + 4);
        assert_eq!(hash_recovery_code(&shown), Some(hash));
        assert_eq!(hash_recovery_code(&shown.to_lowercase()), Some(hash));
        assert_eq!(hash_recovery_code(&shown.replace('-', " ")), Some(hash));
        assert_eq!(hash_recovery_code(&shown[..20]), None);
        assert_eq!(hash_recovery_code("0000000000000000000000000O"), None);
        assert_ne!(generate_recovery_code().unwrap().1, hash);
    }
}
