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
    /// How long a presented second factor counts as fresh for sensitive actions
    /// (step-up), in minutes.
    pub step_up_minutes: i64,
    /// Whether staff and operators may sign in with an authenticator app (TOTP). By
    /// default they must use a passkey (phishing-resistant); recovery codes remain their
    /// break-glass. `true` allows TOTP for every staff member and operator.
    pub staff_totp_allowed: bool,
    /// Practices whose staff may sign in with TOTP even when `staff_totp_allowed` is
    /// off (a practice's own choice).
    pub staff_totp_practices: Vec<tiaki_domain::PracticeId>,
    /// How many days "trust this device" lasts; 0 turns the option off.
    pub trusted_device_days: i64,
    /// The WebAuthn relying party passkeys are bound to.
    pub webauthn: crate::auth::WebauthnConfig,
    /// Limits on failed sign-ins.
    pub throttle: ThrottleConfig,
    /// How often the audit log signs a checkpoint, in seconds.
    pub checkpoint_seconds: u64,
    /// A file every new checkpoint is appended to, for a witness to collect.
    pub audit_witness_file: Option<std::path::PathBuf>,
    /// The age at which a guardian's access to a child's record ends by itself (the
    /// young person's record becomes their own).
    pub guardian_until_age: u8,
    /// Where email goes (SMTP or the outbox directory) and how long its links work.
    pub mail: crate::mail::MailConfig,
    /// The guard's thresholds and alert sinks.
    pub guard: crate::guard::GuardConfig,
    /// Retention rules and the archive's public key.
    pub archive: crate::archive::ArchiveConfig,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 20 * 1024 * 1024,
            session_absolute_minutes: 12 * 60,
            session_idle_minutes: 30,
            password_hash_concurrency: 2,
            second_factor_minutes: 10,
            step_up_minutes: 5,
            staff_totp_allowed: false,
            staff_totp_practices: Vec::new(),
            trusted_device_days: 30,
            webauthn: crate::auth::WebauthnConfig::default(),
            throttle: ThrottleConfig::default(),
            checkpoint_seconds: 10,
            audit_witness_file: None,
            guardian_until_age: 14,
            mail: crate::mail::MailConfig::default(),
            guard: crate::guard::GuardConfig::default(),
            archive: crate::archive::ArchiveConfig::default(),
        }
    }
}
