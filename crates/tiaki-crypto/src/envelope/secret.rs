//! Small secrets that belong to one account (a TOTP seed today), sealed under the
//! keyring so a copy of the database does not hold them in clear.
//!
//! They are kept apart from document keys twice over: the AES key is not a KEK itself
//! but a subkey derived from it (`HMAC-SHA256(KEK, "tiaki/v1/kdf" 0x00 "account-secret"
//! 0x00 version)`), so no ciphertext made here can ever be confused with a wrapped
//! patient key; and the associated data names the purpose, the account and the KEK
//! version, so a sealed secret copied onto another account, relabelled with another
//! version or offered for another purpose fails to open.
//!
//! An account's own login secret needs no audit receipt: opening it is part of signing
//! that account in, and yields nothing about anyone's health.
//!
//! A sealed secret is `0x01 ‖ nonce (12) ‖ AES-256-GCM(secret) ‖ tag (16)`.

use super::Vault;
use crate::error::CryptoError;
use crate::keyring::KekVersion;
use crate::random;
use crate::tokens::keyed_hmac;
use aes_gcm::aead::{AeadInOut, Nonce, Tag};
use aes_gcm::{Aes256Gcm, KeyInit};
use hmac::Mac;
use tiaki_domain::AccountId;
use zeroize::Zeroizing;

const FORMAT: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Far more than any login secret needs; stops a tampered row from being a large input.
pub const MAX_SECRET_LEN: usize = 256;

/// What an account secret is for. Bound into the associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretPurpose {
    /// The shared seed of a TOTP authenticator (RFC 6238).
    Totp,
}

impl SecretPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Totp => b"totp",
        }
    }
}

/// An account secret sealed under the KEK of `kek_version`. Useless without the keyring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSecret {
    pub kek_version: KekVersion,
    pub bytes: Vec<u8>,
}

fn associated_data(purpose: SecretPurpose, account: AccountId, version: KekVersion) -> Vec<u8> {
    let mut ad = Vec::with_capacity(64);
    ad.extend_from_slice(b"tiaki/v1/account-secret\0");
    ad.extend_from_slice(purpose.label());
    ad.push(0);
    ad.extend_from_slice(account.as_uuid().as_bytes());
    ad.extend_from_slice(&version.0.to_be_bytes());
    ad
}

fn subkey(kek: &[u8; 32], version: KekVersion) -> Zeroizing<[u8; 32]> {
    let mut mac = keyed_hmac(kek);
    mac.update(b"tiaki/v1/kdf\0account-secret\0");
    mac.update(&version.0.to_be_bytes());
    Zeroizing::new(mac.finalize().into_bytes().into())
}

impl Vault {
    /// Seals `secret` for `account` under the active KEK.
    pub fn seal_secret(
        &self,
        purpose: SecretPurpose,
        account: AccountId,
        secret: &[u8],
    ) -> Result<SealedSecret, CryptoError> {
        if secret.is_empty() || secret.len() > MAX_SECRET_LEN {
            return Err(CryptoError::Misuse(
                "an account secret has an unusual length",
            ));
        }
        let keys = self.keys.for_wrapping();
        let (version, kek) = keys
            .active_kek()
            .ok_or(CryptoError::UnknownKeyVersion(keys.active_version()))?;
        let key = subkey(kek.expose(), version);
        let nonce = random::nonce()?;
        let mut body = Zeroizing::new(secret.to_vec());
        let tag = Aes256Gcm::new((&*key).into())
            .encrypt_inout_detached(
                &Nonce::<Aes256Gcm>::from(nonce),
                &associated_data(purpose, account, version),
                body.as_mut_slice().into(),
            )
            .map_err(|_| CryptoError::Misuse("sealing rejected its input"))?;
        let mut bytes = Vec::with_capacity(1 + NONCE_LEN + body.len() + TAG_LEN);
        bytes.push(FORMAT);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(tag.as_slice());
        Ok(SealedSecret {
            kek_version: version,
            bytes,
        })
    }

    /// Seals an account secret afresh under the active KEK (KEK rotation): opened and
    /// sealed inside the vault, so the secret itself never reaches the caller.
    pub fn reseal_secret(
        &self,
        purpose: SecretPurpose,
        account: AccountId,
        sealed: &SealedSecret,
    ) -> Result<SealedSecret, CryptoError> {
        let secret = self.open_secret(purpose, account, sealed)?;
        self.seal_secret(purpose, account, &secret)
    }

    /// Opens a secret sealed by [`Vault::seal_secret`] for the same purpose and account.
    pub fn open_secret(
        &self,
        purpose: SecretPurpose,
        account: AccountId,
        sealed: &SealedSecret,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let malformed = || CryptoError::Malformed("a sealed account secret has the wrong shape");
        let keys = self
            .keys
            .holding(sealed.kek_version)
            .ok_or(CryptoError::UnknownKeyVersion(sealed.kek_version))?;
        let kek = keys
            .kek(sealed.kek_version)
            .ok_or(CryptoError::UnknownKeyVersion(sealed.kek_version))?;
        let (format, rest) = sealed.bytes.split_first().ok_or_else(malformed)?;
        if *format != FORMAT {
            return Err(malformed());
        }
        let (nonce, rest) = rest.split_at_checked(NONCE_LEN).ok_or_else(malformed)?;
        let body_len = rest.len().checked_sub(TAG_LEN).ok_or_else(malformed)?;
        if body_len == 0 || body_len > MAX_SECRET_LEN {
            return Err(malformed());
        }
        let (body, tag) = rest.split_at_checked(body_len).ok_or_else(malformed)?;
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce).map_err(|_| malformed())?;
        let tag = Tag::<Aes256Gcm>::try_from(tag).map_err(|_| malformed())?;
        let key = subkey(kek.expose(), sealed.kek_version);
        let mut plain = Zeroizing::new(body.to_vec());
        Aes256Gcm::new((&*key).into())
            .decrypt_inout_detached(
                &nonce,
                &associated_data(purpose, account, sealed.kek_version),
                plain.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| CryptoError::Unwrap("account secret"))?;
        Ok(plain)
    }
}
