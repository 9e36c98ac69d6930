//! Throttling sign-in without handing attackers a lockout button.
//!
//! Every failed attempt (wrong password, wrong or missing second factor, unknown
//! username) is a row in the store, keyed by a MAC of the lower-cased username (the
//! *subject*: the same for names with and without an account, so throttling reveals
//! nothing about who exists) and the address it came from. Before any password is
//! checked, [`decide`] looks at the counts and may refuse the attempt for a while:
//!
//! 1. **Account × address back-off** — after `account_free_failures` failures of one
//!    username from one address, each further attempt from there waits
//!    2^(n − free) seconds after the last failure, capped at `max_backoff_seconds`.
//! 2. **Distributed guessing** — failures of one username from *other* addresses back
//!    off the same way after `distributed_free_failures`.
//! 3. **Credential stuffing** — after `address_failures` failures from one address
//!    (any usernames), that address backs off exponentially.
//! 4. **Password spraying** — one address failing on `spray_usernames` distinct
//!    usernames is refused for `max_backoff_seconds` after its last failure.
//! 5. **Global** — past `global_failures` failures everywhere in the global window, only
//!    known addresses are answered, for `global_pause_seconds`.
//!
//! Rules 2–5 do not apply from an address the account has completed a sign-in from
//! (within `known_address_days`), so someone hammering an account from elsewhere
//! cannot keep its owner out; rule 1 always applies. Nothing is permanent: counts only
//! look back `window_minutes`, and a refusal only lasts until its back-off runs out.
//! A refused attempt is not itself a failure (no password was tried), so refusals do
//! not extend themselves.

use serde::{Deserialize, Serialize};
use tiaki_store::ThrottleFacts;
use time::{Duration, OffsetDateTime};

/// The limits; the defaults are what a practice should run with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    pub account_free_failures: u32,
    pub distributed_free_failures: u32,
    pub address_failures: u32,
    pub spray_usernames: u32,
    pub global_failures: u32,
    pub global_window_seconds: i64,
    pub global_pause_seconds: i64,
    pub window_minutes: i64,
    pub max_backoff_seconds: i64,
    pub known_address_days: i64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            account_free_failures: 5,
            distributed_free_failures: 10,
            address_failures: 20,
            spray_usernames: 10,
            global_failures: 2_000,
            global_window_seconds: 300,
            global_pause_seconds: 60,
            window_minutes: 60,
            max_backoff_seconds: 15 * 60,
            known_address_days: 90,
        }
    }
}

/// Which rule refused an attempt (for the audit event's reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    AccountAddress,
    Distributed,
    Address,
    Spray,
    Global,
}

impl Rule {
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Self::AccountAddress => "throttled_account_address",
            Self::Distributed => "throttled_distributed",
            Self::Address => "throttled_address",
            Self::Spray => "throttled_spray",
            Self::Global => "throttled_global",
        }
    }
}

/// A refusal: which rule, and how long until an attempt would be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    pub wait: Duration,
}

impl Refusal {
    /// Whole seconds for `Retry-After`, at least 1.
    #[must_use]
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.wait.whole_seconds() + i64::from(self.wait.subsec_nanoseconds() > 0);
        u64::try_from(secs.max(1)).unwrap_or(1)
    }
}

/// Whether an attempt with these counts may be answered now. Pure.
#[must_use]
pub fn decide(c: &ThrottleConfig, f: &ThrottleFacts, now: OffsetDateTime) -> Option<Refusal> {
    let max = Duration::seconds(c.max_backoff_seconds.max(1));
    let mut refusals = vec![backoff(
        Rule::AccountAddress,
        f.pair_failures,
        c.account_free_failures,
        f.pair_last_failure,
        max,
        now,
    )];
    if !f.known_address {
        refusals.push(backoff(
            Rule::Distributed,
            f.account_failures_elsewhere,
            c.distributed_free_failures,
            f.account_last_failure_elsewhere,
            max,
            now,
        ));
        refusals.push(backoff(
            Rule::Address,
            f.address_failures,
            c.address_failures,
            f.address_last_failure,
            max,
            now,
        ));
        if f.address_subjects >= c.spray_usernames {
            refusals.push(until(Rule::Spray, f.address_last_failure, max, now));
        }
        if f.global_failures >= c.global_failures {
            refusals.push(Some(Refusal {
                rule: Rule::Global,
                wait: Duration::seconds(c.global_pause_seconds.max(1)),
            }));
        }
    }
    refusals.into_iter().flatten().max_by_key(|r| r.wait)
}

/// 2^(failures − free) seconds after the last failure, capped; none below `free`.
fn backoff(
    rule: Rule,
    failures: u32,
    free: u32,
    last: Option<OffsetDateTime>,
    max: Duration,
    now: OffsetDateTime,
) -> Option<Refusal> {
    let over = failures.checked_sub(free)?;
    let delay = 1i64
        .checked_shl(over.min(40))
        .map_or(max, Duration::seconds)
        .min(max);
    until(rule, last, delay, now)
}

fn until(
    rule: Rule,
    last: Option<OffsetDateTime>,
    delay: Duration,
    now: OffsetDateTime,
) -> Option<Refusal> {
    let wait = last? + delay - now;
    (wait > Duration::ZERO).then_some(Refusal { rule, wait })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn ago(secs: i64) -> Option<OffsetDateTime> {
        Some(now() - Duration::seconds(secs))
    }

    #[test]
    fn a_few_mistakes_cost_nothing() {
        let c = ThrottleConfig::default();
        let f = ThrottleFacts {
            pair_failures: 4,
            pair_last_failure: ago(0),
            address_failures: 4,
            address_subjects: 1,
            address_last_failure: ago(0),
            ..ThrottleFacts::default()
        };
        assert_eq!(decide(&c, &f, now()), None);
    }

    #[test]
    fn account_back_off_doubles_and_is_capped() {
        let c = ThrottleConfig::default();
        let wait = |n: u32, secs_ago: i64| {
            decide(
                &c,
                &ThrottleFacts {
                    pair_failures: n,
                    pair_last_failure: ago(secs_ago),
                    known_address: true,
                    ..ThrottleFacts::default()
                },
                now(),
            )
            .map(|r| (r.rule, r.wait.whole_seconds()))
        };
        assert_eq!(wait(5, 0), Some((Rule::AccountAddress, 1)));
        assert_eq!(wait(6, 0), Some((Rule::AccountAddress, 2)));
        assert_eq!(wait(9, 10), Some((Rule::AccountAddress, 6)));
        assert_eq!(wait(9, 16), None, "the back-off has run out");
        assert_eq!(wait(30, 0), Some((Rule::AccountAddress, 900)));
        assert_eq!(wait(u32::MAX, 0), Some((Rule::AccountAddress, 900)));
        assert_eq!(wait(30, 900), None, "never permanent");
    }

    #[test]
    fn known_addresses_skip_everything_but_their_own_back_off() {
        let c = ThrottleConfig::default();
        let storm = ThrottleFacts {
            account_failures_elsewhere: 500,
            account_addresses_elsewhere: 300,
            account_last_failure_elsewhere: ago(0),
            address_failures: 1_000,
            address_subjects: 100,
            address_last_failure: ago(0),
            global_failures: 1_000_000,
            ..ThrottleFacts::default()
        };
        let refusal = decide(&c, &storm, now()).unwrap();
        assert_eq!(refusal.wait.whole_seconds(), 900);
        let owner = ThrottleFacts {
            known_address: true,
            ..storm
        };
        assert_eq!(decide(&c, &owner, now()), None);
    }

    #[test]
    fn spraying_and_a_global_storm_are_refused() {
        let c = ThrottleConfig::default();
        let spray = ThrottleFacts {
            address_failures: 10,
            address_subjects: 10,
            address_last_failure: ago(60),
            ..ThrottleFacts::default()
        };
        let r = decide(&c, &spray, now()).unwrap();
        assert_eq!((r.rule, r.wait.whole_seconds()), (Rule::Spray, 840));
        assert_eq!(r.retry_after_secs(), 840);
        let storm = ThrottleFacts {
            global_failures: 2_000,
            ..ThrottleFacts::default()
        };
        let r = decide(&c, &storm, now()).unwrap();
        assert_eq!((r.rule, r.retry_after_secs()), (Rule::Global, 60));
    }
}
