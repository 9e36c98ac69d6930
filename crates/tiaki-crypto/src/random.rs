//! The one place randomness comes from: the operating system's CSPRNG. Failure is
//! reported, never papered over, so a broken RNG refuses requests instead of minting
//! predictable keys (fail closed, invariant 5).

use crate::error::CryptoError;
use zeroize::Zeroizing;

/// Fills `buf` from the OS random source.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|_| CryptoError::Random)
}

/// A fresh 256-bit secret, wiped when dropped.
pub(crate) fn key() -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut key = Zeroizing::new([0u8; 32]);
    fill(key.as_mut_slice())?;
    Ok(key)
}

/// A fresh 96-bit AES-GCM nonce.
pub(crate) fn nonce() -> Result<[u8; 12], CryptoError> {
    let mut nonce = [0u8; 12];
    fill(&mut nonce)?;
    Ok(nonce)
}
