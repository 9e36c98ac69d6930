//! Tiaki's web edge, tested the way a user or an attacker meets it: a real server on a
//! loopback port, real SQLite or PostgreSQL, real encryption and audit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod web {
    pub mod account;
    pub mod audit;
    pub mod bola;
    pub mod content;
    pub mod harness;
    pub mod mfa;
    pub mod openapi;
    pub mod sessions;
    pub mod throttle;
    pub mod transparency;
    pub mod uploads;
}
