//! The document blob format, sealed and opened one chunk at a time.
//!
//! A blob is a 10-byte header followed by one or more chunks:
//!
//! ```text
//! header  = "TIAKI" (5 bytes) ‖ format version 0x01 ‖ plaintext chunk size (u32 BE, 65536)
//! chunk i = AES-256-GCM(data key, nonce_i, AD, plaintext_i) ‖ 16-byte tag
//! nonce_i = 0x00 × 7 ‖ i (u32 BE) ‖ 0x01 if this is the final chunk, else 0x00
//! AD      = "tiaki/v1/document-chunk" 0x00 ‖ document id ‖ patient id ‖ practice id ‖ header
//! ```
//!
//! Every chunk but the last holds exactly [`CHUNK_SIZE`] bytes of plaintext; the last
//! holds 0 to `CHUNK_SIZE` (0 only for an empty document, which is one empty final
//! chunk). This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015):
//! the counter in the nonce fixes each chunk's position, so reordering fails; the final
//! flag marks the end, so truncating at a chunk boundary, dropping the last chunk, or
//! appending chunks fails; the associated data ties every chunk to its document row and
//! to the header. The fixed nonce prefix is safe because the data key is random and used
//! for one document only; a [`ChunkSealer`] cannot be cloned or rewound, so no nonce is
//! ever used twice under a key.

use crate::envelope::DocumentContext;
use crate::envelope::wrap::chunk_ad;
use crate::error::CryptoError;
use aes_gcm::aead::{AeadInOut, Nonce};
use aes_gcm::{Aes256Gcm, KeyInit};
use std::fmt;

/// Plaintext bytes per chunk (every chunk but the last is exactly this long).
pub const CHUNK_SIZE: usize = 64 * 1024;
/// The AES-GCM tag each chunk carries.
pub const TAG_LEN: usize = 16;
/// Ciphertext bytes of a full chunk.
pub const SEALED_CHUNK_SIZE: usize = CHUNK_SIZE + TAG_LEN;
/// Bytes of the blob header.
pub const HEADER_LEN: usize = 10;

const MAGIC: [u8; 5] = *b"TIAKI";
const FORMAT_VERSION: u8 = 1;

/// The header every blob of this format starts with.
fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let size = u32::try_from(CHUNK_SIZE).unwrap_or(u32::MAX).to_be_bytes();
    for (dst, src) in h.iter_mut().zip(
        MAGIC
            .iter()
            .chain([FORMAT_VERSION].iter())
            .chain(size.iter()),
    ) {
        *dst = *src;
    }
    h
}

/// The STREAM nonce of chunk `index`.
fn nonce(index: u32, last: bool) -> Nonce<Aes256Gcm> {
    let mut n = [0u8; 12];
    for (dst, src) in n.iter_mut().skip(7).zip(index.to_be_bytes()) {
        *dst = src;
    }
    if let Some(flag) = n.last_mut() {
        *flag = u8::from(last);
    }
    Nonce::<Aes256Gcm>::from(n)
}

/// The stored size of a document of `plaintext_len` bytes: header, plaintext and one
/// tag per chunk. Lets the store check a blob's length and the web layer send
/// `Content-Length` without reading anything.
#[must_use]
pub fn sealed_len(plaintext_len: u64) -> u64 {
    let chunk = CHUNK_SIZE as u64;
    let chunks = plaintext_len.div_ceil(chunk).max(1);
    (HEADER_LEN as u64)
        .saturating_add(plaintext_len)
        .saturating_add(chunks.saturating_mul(TAG_LEN as u64))
}

/// Seals one document, chunk by chunk. Made only by [`crate::Vault::seal_document`],
/// with a fresh data key. Deliberately not `Clone`: two sealers sharing a key would
/// reuse nonces.
pub struct ChunkSealer {
    cipher: Aes256Gcm,
    ad: Vec<u8>,
    next: u64,
    finished: bool,
}

impl fmt::Debug for ChunkSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkSealer")
            .field("next_chunk", &self.next)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl ChunkSealer {
    pub(super) fn new(data_key: &[u8; 32], ctx: &DocumentContext) -> Self {
        Self {
            cipher: Aes256Gcm::new(data_key.into()),
            ad: chunk_ad(ctx, &header()),
            next: 0,
            finished: false,
        }
    }

    /// The header to write before the first chunk.
    #[must_use]
    pub fn header(&self) -> [u8; HEADER_LEN] {
        header()
    }

    /// Seals the next chunk in place: `chunk` holds its plaintext ([`CHUNK_SIZE`] bytes,
    /// or at most that if `last`) and afterwards holds the ciphertext and tag. After the
    /// last chunk the sealer refuses more.
    pub fn seal_chunk(&mut self, chunk: &mut Vec<u8>, last: bool) -> Result<(), CryptoError> {
        if self.finished {
            return Err(CryptoError::Misuse(
                "the document was already sealed to its end",
            ));
        }
        if chunk.len() > CHUNK_SIZE || (!last && chunk.len() != CHUNK_SIZE) {
            return Err(CryptoError::Misuse(
                "only the last chunk may be shorter than CHUNK_SIZE, and none longer",
            ));
        }
        let index = u32::try_from(self.next).map_err(|_| CryptoError::TooLarge)?;
        self.cipher
            .encrypt_in_place(&nonce(index, last), &self.ad, chunk)
            .map_err(|_| CryptoError::Misuse("a chunk could not be sealed"))?;
        self.next = self.next.saturating_add(1);
        self.finished = last;
        Ok(())
    }

    /// Whether the final chunk has been sealed.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// Opens one document, chunk by chunk. Made only by [`crate::Vault::open_document`],
/// which demands an audit receipt; there is no other way to get one. After any failure it
/// refuses further use, so no plaintext follows a detected tampering.
pub struct ChunkOpener {
    cipher: Aes256Gcm,
    ctx: DocumentContext,
    /// Set once the header has been read and checked.
    ad: Option<Vec<u8>>,
    next: u64,
    state: OpenState,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum OpenState {
    Reading,
    Finished,
    Failed,
}

impl fmt::Debug for ChunkOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkOpener")
            .field("document", &self.ctx.document)
            .field("next_chunk", &self.next)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ChunkOpener {
    pub(super) fn new(data_key: &[u8; 32], ctx: &DocumentContext) -> Self {
        Self {
            cipher: Aes256Gcm::new(data_key.into()),
            ctx: *ctx,
            ad: None,
            next: 0,
            state: OpenState::Reading,
        }
    }

    /// Checks the blob header; must come before the first chunk.
    pub fn open_header(&mut self, header_bytes: &[u8]) -> Result<(), CryptoError> {
        if self.ad.is_some() || self.state != OpenState::Reading {
            return Err(CryptoError::Misuse("the header was already read"));
        }
        let result = check_header(header_bytes);
        match result {
            Ok(()) => self.ad = Some(chunk_ad(&self.ctx, header_bytes)),
            Err(_) => self.state = OpenState::Failed,
        }
        result
    }

    /// Opens the next chunk in place: `chunk` holds ciphertext and tag (exactly
    /// [`SEALED_CHUNK_SIZE`] bytes unless `last`) and afterwards holds the plaintext.
    /// `last` must be true exactly for the final chunk of the blob — the caller knows
    /// because the ciphertext ended — and a blob cut or extended at any point fails here.
    pub fn open_chunk(&mut self, chunk: &mut Vec<u8>, last: bool) -> Result<(), CryptoError> {
        let result = self.open_chunk_inner(chunk, last);
        match result {
            Ok(()) if last => self.state = OpenState::Finished,
            Ok(()) => {}
            Err(_) => {
                self.state = OpenState::Failed;
                chunk.clear();
            }
        }
        result
    }

    fn open_chunk_inner(&mut self, chunk: &mut Vec<u8>, last: bool) -> Result<(), CryptoError> {
        match self.state {
            OpenState::Reading => {}
            OpenState::Finished => {
                return Err(CryptoError::Malformed("data follows the final chunk"));
            }
            OpenState::Failed => {
                return Err(CryptoError::Misuse("the document already failed to open"));
            }
        }
        let ad = self.ad.as_deref().ok_or(CryptoError::Misuse(
            "the header must be read before any chunk",
        ))?;
        if chunk.len() < TAG_LEN {
            return Err(CryptoError::Truncated);
        }
        if chunk.len() > SEALED_CHUNK_SIZE || (!last && chunk.len() != SEALED_CHUNK_SIZE) {
            return Err(CryptoError::Malformed("a chunk has the wrong length"));
        }
        let index = u32::try_from(self.next).map_err(|_| CryptoError::TooLarge)?;
        // AES-GCM checks the tag before decrypting, so a bad chunk yields no plaintext.
        self.cipher
            .decrypt_in_place(&nonce(index, last), ad, chunk)
            .map_err(|_| CryptoError::Chunk { index })?;
        self.next = self.next.saturating_add(1);
        Ok(())
    }

    /// Whether the final chunk has been opened (the document is complete).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.state == OpenState::Finished
    }
}

fn check_header(bytes: &[u8]) -> Result<(), CryptoError> {
    if bytes.len() < HEADER_LEN {
        return Err(CryptoError::Truncated);
    }
    if !bytes.starts_with(&MAGIC) {
        return Err(CryptoError::Malformed("this is not a Tiaki document blob"));
    }
    if bytes.get(MAGIC.len()) != Some(&FORMAT_VERSION) {
        return Err(CryptoError::Malformed(
            "unsupported document blob format version",
        ));
    }
    if bytes != header() {
        return Err(CryptoError::Malformed(
            "unsupported document blob chunk size",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn the_header_and_nonces_are_laid_out_as_documented() {
        assert_eq!(&header(), b"TIAKI\x01\x00\x01\x00\x00");
        assert_eq!(nonce(0, false).as_slice(), &[0u8; 12]);
        assert_eq!(
            nonce(0x0102_0304, true).as_slice(),
            &[0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 1]
        );
    }

    #[test]
    fn sealed_lengths_count_one_tag_per_chunk() {
        let (h, t, c) = (HEADER_LEN as u64, TAG_LEN as u64, CHUNK_SIZE as u64);
        assert_eq!(sealed_len(0), h + t);
        assert_eq!(sealed_len(1), h + 1 + t);
        assert_eq!(sealed_len(c), h + c + t);
        assert_eq!(sealed_len(c + 1), h + c + 1 + 2 * t);
        assert_eq!(sealed_len(u64::MAX), u64::MAX);
    }
}
