//! Password hashing: Argon2id with m = 19 MiB, t = 2, p = 1 (OWASP's baseline), stored
//! as PHC strings.
//!
//! Each hash takes tens of milliseconds of CPU and 19 MiB of memory, so hashing runs on
//! tokio's blocking threads behind a semaphore: a login storm queues for a bounded pool
//! instead of starving the async runtime or exhausting memory.
//!
//! Unknown users are verified against a dummy hash with the same parameters, so "no such
//! account" costs the same time as "wrong password" and the login form cannot be used to
//! discover who has an account.

use crate::error::CryptoError;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Stored hashes asking for more than this are treated as malformed: a tampered row must
/// not make one login allocate gigabytes or spin for minutes.
const MAX_M_COST_KIB: u32 = 256 * 1024;
const MAX_T_COST: u32 = 16;
const MAX_P_COST: u32 = 16;

/// Hashes and verifies passwords on a bounded pool of blocking threads. Cheap to clone
/// (clones share the pool).
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    permits: Arc<Semaphore>,
    /// A PHC string with our parameters and fixed salt and output; no password matches it
    /// (finding one would mean inverting Argon2), and verifying against it costs exactly
    /// what verifying a real hash costs.
    dummy: String,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost_kib", &self.inner.params.m_cost())
            .field("t_cost", &self.inner.params.t_cost())
            .field("p_cost", &self.inner.params.p_cost())
            .field("available", &self.inner.permits.available_permits())
            .finish()
    }
}

impl PasswordHasher {
    /// Argon2id, m = 19456 KiB, t = 2, p = 1, with at most `max_concurrent` (at least 1)
    /// hashes running at once.
    #[must_use]
    pub fn new(max_concurrent: usize) -> Self {
        Self::build(max_concurrent, Params::DEFAULT)
    }

    /// Other Argon2id parameters — for tests, where the defaults would be slow. Fails if
    /// argon2 rejects them.
    pub fn with_params(
        max_concurrent: usize,
        m_cost_kib: u32,
        t_cost: u32,
        p_cost: u32,
    ) -> Result<Self, CryptoError> {
        let params = Params::new(m_cost_kib, t_cost, p_cost, None)
            .map_err(|e| CryptoError::Password(e.to_string()))?;
        Ok(Self::build(max_concurrent, params))
    }

    fn build(max_concurrent: usize, params: Params) -> Self {
        let dummy = format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost(),
            STANDARD_NO_PAD.encode(b"tiaki-dummy-salt"),
            STANDARD_NO_PAD.encode([0x5au8; Params::DEFAULT_OUTPUT_LEN]),
        );
        Self {
            inner: Arc::new(Inner {
                params,
                permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
                dummy,
            }),
        }
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for a new password, with a
    /// fresh random salt.
    pub async fn hash(&self, password: &SecretString) -> Result<String, CryptoError> {
        let password = password.clone();
        self.run(move |inner| {
            argon2(&inner.params)
                .hash_password(password.expose_secret().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| CryptoError::Password(e.to_string()))
        })
        .await?
    }

    /// Whether `password` matches the stored PHC string. `None` (no such user) and a
    /// malformed stored hash both verify against the dummy hash, taking the same time,
    /// and return false. Any internal failure also returns false: fail closed.
    pub async fn verify(&self, phc: Option<&str>, password: &SecretString) -> bool {
        let phc = phc.map(str::to_owned);
        let password = password.clone();
        let outcome = self
            .run(move |inner| {
                let stored = phc.as_deref().and_then(parse_within_limits);
                let genuine = stored.is_some();
                let Some(target) = stored.or_else(|| PasswordHash::new(&inner.dummy).ok()) else {
                    return false;
                };
                let matched = argon2(&inner.params)
                    .verify_password(password.expose_secret().as_bytes(), &target)
                    .is_ok();
                matched && genuine
            })
            .await;
        match outcome {
            Ok(matched) => matched,
            Err(e) => {
                tracing::error!(error = %e, "password verification could not run");
                false
            }
        }
    }

    /// Runs `work` on a blocking thread once a permit is free.
    async fn run<T, F>(&self, work: F) -> Result<T, CryptoError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> T + Send + 'static,
    {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| CryptoError::Password("the hashing pool is closed".into()))?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&inner)
        })
        .await
        .map_err(|_| CryptoError::Password("the hashing worker stopped".into()))
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, argon2::Version::V0x13, params.clone())
}

/// Parses a stored PHC string, refusing parameters no hash of ours would have.
fn parse_within_limits(phc: &str) -> Option<PasswordHash> {
    let hash = PasswordHash::new(phc).ok()?;
    let params = Params::try_from(&hash).ok()?;
    let sane = params.m_cost() <= MAX_M_COST_KIB
        && params.t_cost() <= MAX_T_COST
        && params.p_cost() <= MAX_P_COST;
    sane.then_some(hash)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_well_formed_with_our_parameters() {
        let hasher = PasswordHasher::new(1);
        let dummy = parse_within_limits(&hasher.inner.dummy).unwrap();
        let params = Params::try_from(&dummy).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (19456, 2, 1)
        );
    }

    #[test]
    fn absurd_stored_parameters_are_refused() {
        let salt = STANDARD_NO_PAD.encode(b"saltsaltsalt");
        let out = STANDARD_NO_PAD.encode([1u8; 32]);
        let huge = format!("$argon2id$v=19$m=4194304,t=2,p=1${salt}${out}");
        assert!(PasswordHash::new(&huge).is_ok());
        assert!(parse_within_limits(&huge).is_none());
    }
}
