//! Async adapters between byte streams and the chunked blob format, so an upload or a
//! download never holds a whole file in memory.
//!
//! Input may arrive in pieces of any size; the adapters re-chunk it. Each holds at most
//! one chunk being filled plus the one input piece it is consuming (an input piece is a
//! `Bytes` it slices without copying), and yields one chunk at a time, so memory per
//! stream stays near two chunks whatever the document's size. Whether a chunk is the
//! last is learned by looking for more input after it, which is why a full chunk is held
//! until the next piece (or the end) arrives.
//!
//! Encryption runs inline: AES-GCM over 64 KiB takes tens of microseconds, less than a
//! hop to a blocking thread would cost.

use crate::envelope::chunk::{CHUNK_SIZE, ChunkOpener, ChunkSealer, HEADER_LEN, SEALED_CHUNK_SIZE};
use crate::error::CryptoError;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::fmt::Display;
use std::pin::Pin;

/// Seals a plaintext stream into the blob format: the header, then sealed chunks of at
/// most [`SEALED_CHUNK_SIZE`] bytes. An input error ends the stream with
/// [`CryptoError::Input`]; a stream that ends early leaves an incomplete blob that will
/// not open, so store the result only if every item was `Ok`.
pub fn seal_stream<S, E>(
    sealer: ChunkSealer,
    input: S,
) -> impl Stream<Item = Result<Bytes, CryptoError>>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Display,
{
    let state = Sealing {
        sealer,
        source: Source::new(input),
        header_sent: false,
        done: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        let item = state.next_item().await?;
        Some((item, state))
    })
}

/// Opens a blob arriving in pieces of any size, yielding plaintext chunks of at most
/// [`CHUNK_SIZE`] bytes. The first error (tampering, truncation, input failure) ends the
/// stream; plaintext already yielded was authentic, but a consumer that must not act on a
/// partial document should wait for the stream's clean end.
pub fn open_stream<S, E>(
    opener: ChunkOpener,
    input: S,
) -> impl Stream<Item = Result<Bytes, CryptoError>>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Display,
{
    let state = Opening {
        opener,
        source: Source::new(input),
        header_read: false,
        done: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        let item = state.next_item().await?;
        Some((item, state))
    })
}

/// An input stream with a one-piece look-ahead.
struct Source<S> {
    input: Pin<Box<S>>,
    pending: Bytes,
    ended: bool,
}

impl<S, E> Source<S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Display,
{
    fn new(input: S) -> Self {
        Self {
            input: Box::pin(input),
            pending: Bytes::new(),
            ended: false,
        }
    }

    /// Makes sure a non-empty piece is pending; false at the end of the input.
    async fn has_more(&mut self) -> Result<bool, CryptoError> {
        while self.pending.is_empty() {
            if self.ended {
                return Ok(false);
            }
            match self.input.next().await {
                Some(Ok(piece)) => self.pending = piece,
                Some(Err(e)) => return Err(CryptoError::Input(e.to_string())),
                None => self.ended = true,
            }
        }
        Ok(true)
    }

    /// Moves input into `buf` until it holds `want` bytes or the input ends.
    async fn read_into(&mut self, buf: &mut Vec<u8>, want: usize) -> Result<(), CryptoError> {
        while buf.len() < want && self.has_more().await? {
            let take = want.saturating_sub(buf.len()).min(self.pending.len());
            buf.extend_from_slice(&self.pending.split_to(take));
        }
        Ok(())
    }
}

struct Sealing<S> {
    sealer: ChunkSealer,
    source: Source<S>,
    header_sent: bool,
    done: bool,
}

impl<S, E> Sealing<S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Display,
{
    async fn next_item(&mut self) -> Option<Result<Bytes, CryptoError>> {
        if self.done {
            return None;
        }
        if !self.header_sent {
            self.header_sent = true;
            return Some(Ok(Bytes::copy_from_slice(&self.sealer.header())));
        }
        let item = self.next_chunk().await;
        self.done = item.is_err() || self.sealer.is_finished();
        Some(item)
    }

    async fn next_chunk(&mut self) -> Result<Bytes, CryptoError> {
        let mut buf = Vec::with_capacity(SEALED_CHUNK_SIZE);
        self.source.read_into(&mut buf, CHUNK_SIZE).await?;
        // A chunk is the last exactly when no input follows it (a document whose length
        // is a multiple of CHUNK_SIZE ends on a full final chunk, not an empty one).
        let last = !self.source.has_more().await?;
        self.sealer.seal_chunk(&mut buf, last)?;
        Ok(Bytes::from(buf))
    }
}

struct Opening<S> {
    opener: ChunkOpener,
    source: Source<S>,
    header_read: bool,
    done: bool,
}

impl<S, E> Opening<S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Display,
{
    async fn next_item(&mut self) -> Option<Result<Bytes, CryptoError>> {
        // Loops past steps that yield no plaintext (the header, an empty final chunk).
        while !self.done {
            match self.step().await {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(plain) => {
                    self.done = self.opener.is_finished();
                    if !plain.is_empty() {
                        return Some(Ok(plain));
                    }
                }
            }
        }
        None
    }

    async fn step(&mut self) -> Result<Bytes, CryptoError> {
        if !self.header_read {
            let mut header = Vec::with_capacity(HEADER_LEN);
            self.source.read_into(&mut header, HEADER_LEN).await?;
            self.opener.open_header(&header)?;
            self.header_read = true;
            return Ok(Bytes::new());
        }
        let mut buf = Vec::with_capacity(SEALED_CHUNK_SIZE);
        self.source.read_into(&mut buf, SEALED_CHUNK_SIZE).await?;
        // The final chunk is whatever the ciphertext ends with; if it was cut or extended,
        // the final-chunk flag in the nonce no longer matches and the chunk fails.
        let last = !self.source.has_more().await?;
        self.opener.open_chunk(&mut buf, last)?;
        Ok(Bytes::from(buf))
    }
}
