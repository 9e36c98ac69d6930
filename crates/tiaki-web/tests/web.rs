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
    pub mod archive;
    pub mod audit;
    pub mod bola;
    pub mod content;
    pub mod devices;
    pub mod email;
    pub mod factors;
    pub mod guard;
    pub mod harness;
    pub mod invitations;
    pub mod mailbox;
    pub mod mailbox_forms;
    pub mod mfa;
    pub mod openapi;
    pub mod password_change;
    pub mod password_reset;
    pub mod proxies;
    pub mod sessions;
    pub mod smtp;
    pub mod step_up;
    pub mod throttle;
    pub mod transparency;
    pub mod uploads;
}
