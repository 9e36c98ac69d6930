//! End-to-end tests of the real `tiaki` binary: the server is started as a separate
//! process on a free port with its own data directory, and driven through its HTTP
//! interface, a real headless Chromium, SIGKILLs and restarts.
//!
//! One test binary (builds stay fast); the modules under `e2e/` each cover one theme.
//! The browser journeys need `chromium` and `chromium-driver` (Debian packages).
//!
//! Knobs: `TIAKI_CRASH_ROUNDS` (kill/restart rounds, default 5), `TIAKI_CRASH_SEED` and
//! `TIAKI_E2E_SEED` (replay the random choices a failed run printed).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod e2e {
    pub mod api;
    pub mod files;
    pub mod server;
    pub mod webdriver;

    mod archive;
    mod audit_log;
    mod browser;
    mod crash;
    mod drills;
    mod forms;
    mod incidents;
    mod invitation;
    mod keys;
    mod large;
    mod leaks;
    mod passkeys;
    mod startup;
    mod uploads;
}
