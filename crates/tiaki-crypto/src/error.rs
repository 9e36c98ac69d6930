//! The errors of sealing, opening and hashing. Messages name what went wrong and, where
//! it helps an operator, which key version or chunk; they never contain key material,
//! plaintext or passwords, so they are safe to log.

use crate::keyring::KekVersion;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The receipt is not for reading this document's content.
    #[error("the audit receipt does not authorise reading this document's content")]
    NotAuthorized,
    /// A wrapped patient key names a KEK version the keyring does not hold.
    #[error("the keyring does not contain key version {0} that this key needs")]
    UnknownKeyVersion(KekVersion),
    /// A wrapped key did not authenticate.
    #[error("a wrapped {0} key did not authenticate: wrong keyring, or it belongs to another row")]
    Unwrap(&'static str),
    /// Bytes that should be a wrapped key or a document blob are not shaped like one.
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    /// A document chunk did not authenticate.
    #[error(
        "document chunk {index} did not authenticate: the blob was altered, reordered, \
         truncated or extended, or belongs to another document"
    )]
    Chunk { index: u32 },
    /// The ciphertext ended before its final chunk.
    #[error("the document ciphertext ended before its final chunk")]
    Truncated,
    /// A sealer or opener was used out of order (a programming error in the caller).
    #[error("stream misuse: {0}")]
    Misuse(&'static str),
    /// A document is longer than the format can count (2^32 chunks of 64 KiB).
    #[error("the document is too large to seal")]
    TooLarge,
    /// The input stream failed.
    #[error("reading the input failed: {0}")]
    Input(String),
    /// The operating system's random source failed.
    #[error("the operating system's random number generator failed")]
    Random,
    /// Password hashing failed (bad parameters, or the worker pool is gone).
    #[error("password hashing failed: {0}")]
    Password(String),
}
