//! Settings the use cases read. Defaults are the ones a practice should run with.

use crate::auth::ThrottleConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoreConfig {
    /// Largest document accepted, in bytes.
    pub max_upload_bytes: u64,
    /// A session ends this long after login, whatever happens.
    pub session_absolute_minutes: i64,
    /// A session ends after this long without use.
    pub session_idle_minutes: i64,
    /// How many password hashes may run at once (each takes ~19 MiB and a core).
    pub password_hash_concurrency: usize,
    /// How long a password-only session may wait for its second factor.
    pub second_factor_minutes: i64,
    /// Limits on failed sign-ins.
    pub throttle: ThrottleConfig,
    /// How often the audit log signs a checkpoint, in seconds.
    pub checkpoint_seconds: u64,
    /// A file every new checkpoint is appended to, for a witness to collect.
    pub audit_witness_file: Option<std::path::PathBuf>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 20 * 1024 * 1024,
            session_absolute_minutes: 12 * 60,
            session_idle_minutes: 30,
            password_hash_concurrency: 2,
            second_factor_minutes: 10,
            throttle: ThrottleConfig::default(),
            checkpoint_seconds: 10,
            audit_witness_file: None,
        }
    }
}
