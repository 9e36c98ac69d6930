//! Settings the use cases read. Defaults are the ones a practice should run with.

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
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 20 * 1024 * 1024,
            session_absolute_minutes: 12 * 60,
            session_idle_minutes: 30,
            password_hash_concurrency: 2,
        }
    }
}
