//! The guard's thresholds. Every figure is per window (an hour by default), estimated
//! as a sliding window from this window's count and the previous one's.
//!
//! Defaults by role (documents are content reads; patients are distinct patients whose
//! documents or record were opened):
//!
//! | who                  | documents soft/hard | bytes soft/hard  | patients soft/hard | refusals+misses |
//! |----------------------|---------------------|------------------|--------------------|-----------------|
//! | patient              | 150 / 300           | 1 GiB / 2 GiB    | — (breadth rule)   | 3               |
//! | clinician, nurse     | 50 / 100            | 512 MiB / 1 GiB  | 20 / 40, baseline  | 20              |
//! | reception, admin     | — (no content)      | —                | 60 / 120, baseline | 20              |
//! | operator             | — (no content)      | —                | —                  | 20              |
//! | one network address  | 2,000 / 4,000       | 8 GiB / 16 GiB   | 1,000 / 2,000      | 100             |
//! | one practice (alerts)| 3,000 / 6,000       | 16 GiB / 32 GiB  | 1,000 / 2,000      | —               |
//!
//! Crossing a soft limit asks for a second factor presented within the last few
//! minutes (the core's `step_up_minutes`); crossing the hard limit contains (for an address: its reads are
//! refused until an operator releases it). A patient's refused or not-found attempts on
//! other people's records contain at `patient_probe_limit`. Staff's distinct-patient
//! soft limit follows their practice's normal for the role: `baseline_multiplier` times
//! the mean of the last `baseline_days`, never below the role's limit above (a quiet
//! practice does not make its busy day suspicious) and never above `baseline_ceiling`.

use serde::{Deserialize, Serialize};

/// A soft and a hard limit on one measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
}

impl Limit {
    #[must_use]
    pub const fn new(soft: u64, hard: u64) -> Self {
        Self { soft, hard }
    }

    /// No limit.
    pub const NONE: Self = Self::new(u64::MAX, u64::MAX);
}

/// The limits for one kind of actor (or for one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub documents: Limit,
    pub bytes: Limit,
    pub patients: Limit,
    /// Refused plus not-found answers that contain.
    pub probes: u64,
}

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardConfig {
    /// Off only for measuring what the guard costs; never in production.
    pub enabled: bool,
    /// The counting window, in seconds.
    pub window_seconds: u64,
    /// Count in the database (shared by every web node) rather than in this process.
    /// `None`: shared on PostgreSQL, in memory on SQLite (one node).
    pub shared_counters: Option<bool>,
    pub patient: Budget,
    pub clinical_staff: Budget,
    pub front_desk_staff: Budget,
    pub operator: Budget,
    pub address: Budget,
    /// A whole practice's reads: crossing the soft limit alerts; crossing the hard
    /// one alerts loudly and asks every reader at the practice for a fresh factor.
    pub practice: Budget,
    /// Staff distinct-patient soft limit = multiplier × the practice's mean for the
    /// role, at least the role's `patients.soft` and at most the ceiling; the hard
    /// limit is twice the soft one.
    pub baseline_multiplier: f64,
    pub baseline_ceiling: u64,
    pub baseline_days: i64,
    /// How often each node reloads decoys, containments and kill switches.
    pub refresh_seconds: u64,
    /// Alerts are POSTed here as JSON, if set.
    pub webhook_url: Option<String>,
    /// Warning and critical alerts are emailed here (the security on-call), if set.
    pub alert_email: Option<String>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window_seconds: 3600,
            shared_counters: None,
            patient: Budget {
                documents: Limit::new(150, 300),
                bytes: Limit::new(GIB, 2 * GIB),
                patients: Limit::NONE,
                probes: 3,
            },
            clinical_staff: Budget {
                documents: Limit::new(50, 100),
                bytes: Limit::new(512 * MIB, GIB),
                patients: Limit::new(20, 40),
                probes: 20,
            },
            front_desk_staff: Budget {
                documents: Limit::NONE,
                bytes: Limit::NONE,
                patients: Limit::new(60, 120),
                probes: 20,
            },
            operator: Budget {
                documents: Limit::NONE,
                bytes: Limit::NONE,
                patients: Limit::NONE,
                probes: 20,
            },
            // One address can be a whole practice behind one router: sized for ~40
            // clinicians on a busy day, far below what a scraper with several stolen
            // accounts behind one address would take.
            address: Budget {
                documents: Limit::new(2_000, 4_000),
                bytes: Limit::new(8 * GIB, 16 * GIB),
                patients: Limit::new(1_000, 2_000),
                probes: 100,
            },
            practice: Budget {
                documents: Limit::new(3_000, 6_000),
                bytes: Limit::new(16 * GIB, 32 * GIB),
                patients: Limit::new(1_000, 2_000),
                probes: u64::MAX,
            },
            baseline_multiplier: 3.0,
            baseline_ceiling: 100,
            baseline_days: 7,
            refresh_seconds: 2,
            webhook_url: None,
            alert_email: None,
        }
    }
}
