//! Test support for this and other crates' integration tests: a fresh PostgreSQL
//! database per test, and a real S3-compatible server (`s3s-fs`) per test.
//!
//! Not used by the server. Both helpers fail loudly, with the command that fixes the
//! machine, when what they need is missing: a test that needs PostgreSQL or S3 must
//! fail, never skip.

mod postgres;
mod s3;

pub use postgres::{drop_postgres_database, fresh_postgres_url};
pub use s3::S3Server;
