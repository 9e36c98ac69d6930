//! Tiaki's cryptography as an attacker and an operator meet it: documents that open only
//! with the right receipt, keys and row; blobs that refuse every kind of tampering;
//! keyring files that refuse to be careless; passwords and tokens that fail closed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "crypto/entries.rs"]
mod entries;
#[path = "crypto/envelope.rs"]
mod envelope;
#[path = "crypto/factors.rs"]
mod factors;
#[path = "crypto/keyring.rs"]
mod keyring;
#[path = "crypto/secrets.rs"]
mod secrets;
#[path = "crypto/streaming.rs"]
mod streaming;
#[path = "crypto/support.rs"]
mod support;
#[path = "crypto/tamper.rs"]
mod tamper;
