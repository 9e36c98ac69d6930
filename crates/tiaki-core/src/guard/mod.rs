//! The guard: DESIGN.md's read path is policy -> guard -> audit -> vault. Every read the
//! policy grants is admitted or refused here before a receipt can be issued, and every
//! refusal and miss the policy answers with a 404 is counted here.
//!
//! Detectors (thresholds in [`GuardConfig`]):
//! 1. breadth: a patient's attempts on anyone else's record (refused by the policy) and
//!    misses on object ids count as probes; a few contain;
//! 2. budgets: documents, bytes and distinct patients per window, per actor, address and
//!    practice; crossing a soft limit asks for a fresh second factor, the hard one
//!    contains;
//! 3. staff breadth: a staff member's distinct patients against their practice's
//!    normal for the role (a rolling baseline);
//! 4. probing: a burst of not-found answers;
//! 5. canaries: decoy patients and documents; the first read contains.
//!
//! Containment revokes the actor's sessions and freezes the account in one
//! transaction, records why, audits it and raises an alert (log, database, webhook).
//! Everything fails closed: if the guard cannot count, the read is refused.

mod alerts;
pub mod config;
mod counters;
mod operator;

pub use alerts::AlertSinks;
pub use config::{Budget, GuardConfig, Limit};
pub use operator::{GuardOperator, GuardOverview, Module};

use crate::{CoreError, Tiaki};
use counters::Counters;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_domain::{Actor, ActorKind, Denied, Grant, StaffRole};
use tiaki_store::{
    Alert, Containment, CounterDelta, CounterTotals, Counts, ModuleState, Severity, Store,
};
use time::{Duration, OffsetDateTime};

/// Proof that the guard admitted a read. Only [`Tiaki::admit`] makes one, and reads
/// need one to be recorded ([`Tiaki::record_admitted`]).
#[derive(Debug)]
pub(crate) struct Admission {
    _private: (),
}

/// Why the policy's answer was a 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Denied(Denied),
    Missing,
}

/// The guard's state in this process: how it counts, and what it has loaded of the
/// shared state (decoys, containments, kill switches).
pub struct Guard {
    config: GuardConfig,
    counters: Counters,
    cache: RwLock<Cache>,
    refresh: tokio::sync::Mutex<()>,
    baselines: Mutex<HashMap<BaselineKey, (u64, Instant)>>,
    /// (scope, window, measure) already alerted on, so a budget alerts once a window.
    alerted: Mutex<HashSet<(String, i64, &'static str)>>,
    sinks: AlertSinks,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// (practice, role) of a staff baseline; the cached value is the soft patient limit
/// and when it was computed.
type BaselineKey = (uuid::Uuid, &'static str);

#[derive(Default)]
struct Cache {
    canaries: HashSet<uuid::Uuid>,
    /// Active containments by scope.
    blocked: HashMap<String, uuid::Uuid>,
    switches: HashMap<String, ModuleState>,
    loaded: Option<Instant>,
}

impl Guard {
    #[must_use]
    pub fn new(config: GuardConfig, store: &Arc<dyn Store>) -> Self {
        let shared = config
            .shared_counters
            .unwrap_or_else(|| store.serves_many_nodes());
        let counters = if shared {
            Counters::Shared(store.clone())
        } else {
            Counters::Memory(Mutex::default())
        };
        let sinks = AlertSinks::new(config.webhook_url.clone());
        Self {
            config,
            counters,
            cache: RwLock::default(),
            refresh: tokio::sync::Mutex::new(()),
            baselines: Mutex::default(),
            alerted: Mutex::default(),
            sinks,
        }
    }

    #[must_use]
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    fn window_of(&self, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime, f64) {
        let len = i64::try_from(self.config.window_seconds.max(1)).unwrap_or(3600);
        let t = now.unix_timestamp();
        let start = t - t.rem_euclid(len);
        let window = OffsetDateTime::from_unix_timestamp(start).unwrap_or(now);
        let previous = window - Duration::seconds(len);
        #[allow(clippy::cast_precision_loss)]
        let elapsed = (now - window).as_seconds_f64() / len as f64;
        (window, previous, elapsed.clamp(0.0, 1.0))
    }
}

/// The sliding-window estimate: this window's count plus the previous window's,
/// weighted by how much of it still lies within one window of now.
fn estimate(current: u64, previous: u64, elapsed: f64) -> u64 {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let carried = (previous as f64 * (1.0 - elapsed)).floor() as u64;
    current.saturating_add(carried)
}

fn estimates(t: &CounterTotals, elapsed: f64) -> Counts {
    let e = |c: fn(&Counts) -> u64| estimate(c(&t.current), c(&t.previous), elapsed);
    Counts {
        documents: e(|c| c.documents),
        bytes: e(|c| c.bytes),
        patients: e(|c| c.patients),
        refusals: e(|c| c.refusals),
        misses: e(|c| c.misses),
    }
}

pub(crate) fn actor_scope(account: tiaki_domain::AccountId) -> String {
    format!("actor:{}", account.as_uuid())
}

fn address_scope(ctx: &RequestContext) -> Option<String> {
    ctx.address.map(|a| format!("address:{a}"))
}

fn practice_scope(practice: tiaki_domain::PracticeId) -> String {
    format!("practice:{}", practice.as_uuid())
}

/// What a limit check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Within,
    Soft,
    Hard,
}

impl Tiaki {
    #[must_use]
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The guard's step for a read the policy granted. `content_bytes` is set for a
    /// content read (it counts as a document); metadata and listings count only the
    /// patient they touch.
    pub(crate) async fn admit(
        &self,
        grant: &Grant,
        ctx: &RequestContext,
        content_bytes: Option<u64>,
    ) -> Result<Admission, CoreError> {
        if !self.guard.config.enabled {
            return Ok(Admission { _private: () });
        }
        let actor = grant.actor();
        let target = grant.target();
        self.refresh_guard_cache().await?;
        if let Some(module) = Module::of_action(grant.action()) {
            self.module_allows(module, false)?;
        }
        self.not_blocked(actor, ctx)?;
        if self.is_canary(target.document().map(|d| *d.as_uuid()))
            || self.is_canary(target.patient().map(|p| *p.as_uuid()))
        {
            let reason = format!(
                "read of a decoy ({})",
                target.document().map_or("patient", |_| "document")
            );
            self.contain_actor(actor, ctx, "canary", &reason).await?;
            return Err(CoreError::Frozen);
        }

        let (window, previous, elapsed) = self.guard.window_of(OffsetDateTime::now_utc());
        let is_content = content_bytes.is_some();
        let delta = |scope: String| CounterDelta {
            scope,
            practice: None,
            role: None,
            documents: u64::from(is_content),
            bytes: content_bytes.unwrap_or(0),
            patient: target.patient(),
            refusals: 0,
            misses: 0,
        };
        let mut deltas = vec![CounterDelta {
            practice: actor.practice(),
            role: Some(actor.role_name().to_owned()),
            ..delta(actor_scope(actor.account))
        }];
        let address = address_scope(ctx);
        if let Some(a) = &address {
            deltas.push(delta(a.clone()));
        }
        if let Some(p) = target.practice() {
            deltas.push(delta(practice_scope(p)));
        }
        let totals = self.guard.counters.count(window, previous, &deltas).await?;
        let window_key = window.unix_timestamp();

        let mut step_up = false;
        for t in &totals {
            let est = estimates(t, elapsed);
            if t.scope.starts_with("actor:") {
                let budget = self.budget_for(actor).await?;
                let (level, measure) = over(&budget, &est);
                if level == Level::Hard {
                    let reason = format!("{measure} budget: {} in window", figure(&est, measure));
                    self.contain_actor(actor, ctx, &format!("budget.{measure}"), &reason)
                        .await?;
                    return Err(CoreError::Frozen);
                }
                if level == Level::Soft {
                    step_up = true;
                    self.alert_once(
                        &t.scope,
                        window_key,
                        measure,
                        Severity::Warning,
                        actor,
                        &format!(
                            "{measure} soft budget crossed: {}; second factor asked",
                            figure(&est, measure)
                        ),
                    )
                    .await;
                }
            } else if Some(&t.scope) == address.as_ref() {
                let (level, measure) = over(&self.guard.config.address, &est);
                if level == Level::Hard {
                    let reason = format!(
                        "address {measure} budget: {} in window",
                        figure(&est, measure)
                    );
                    self.contain_scope(&t.scope, "address.budget", &reason, None, None)
                        .await?;
                    return Err(CoreError::Frozen);
                }
                step_up |= level == Level::Soft;
            } else {
                let (level, measure) = over(&self.guard.config.practice, &est);
                if level > Level::Within {
                    let severity = if level == Level::Hard {
                        Severity::Critical
                    } else {
                        Severity::Warning
                    };
                    self.alert_once(
                        &t.scope,
                        window_key,
                        measure,
                        severity,
                        actor,
                        &format!(
                            "practice {measure} budget crossed: {}",
                            figure(&est, measure)
                        ),
                    )
                    .await;
                    step_up |= level == Level::Hard;
                }
            }
        }
        if step_up {
            self.require_fresh_factor(actor).await?;
        }
        Ok(Admission { _private: () })
    }

    /// The guard's step for a change the policy granted: the module must be open for
    /// writing, and the actor, address and practice not contained.
    pub(crate) async fn admit_write(
        &self,
        grant: &Grant,
        ctx: &RequestContext,
    ) -> Result<(), CoreError> {
        if !self.guard.config.enabled {
            return Ok(());
        }
        self.refresh_guard_cache().await?;
        if let Some(module) = Module::of_action(grant.action()) {
            self.module_allows(module, true)?;
        }
        self.not_blocked(grant.actor(), ctx)
    }

    /// Records an admitted read: the only way a guarded read gets its receipt.
    pub(crate) async fn record_admitted(
        &self,
        grant: &Grant,
        _admission: Admission,
        ctx: &RequestContext,
        bytes: Option<u64>,
    ) -> Result<tiaki_audit::Receipt, CoreError> {
        Ok(self.audit.record(grant, ctx, bytes).await?)
    }

    /// Counts a 404 the policy or the store gave `actor`, and contains when the probes
    /// add up. The caller answers 404 either way (unless this fails: then 503).
    pub(crate) async fn guard_refused(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
        refusal: Refusal,
    ) -> Result<(), CoreError> {
        if !self.guard.config.enabled {
            return Ok(());
        }
        let (window, previous, elapsed) = self.guard.window_of(OffsetDateTime::now_utc());
        let (refusals, misses) = match refusal {
            Refusal::Denied(_) => (1, 0),
            Refusal::Missing => (0, 1),
        };
        let delta = |scope: String| CounterDelta {
            scope,
            practice: None,
            role: None,
            documents: 0,
            bytes: 0,
            patient: None,
            refusals,
            misses,
        };
        let mut deltas = vec![CounterDelta {
            practice: actor.practice(),
            role: Some(actor.role_name().to_owned()),
            ..delta(actor_scope(actor.account))
        }];
        let address = address_scope(ctx);
        if let Some(a) = &address {
            deltas.push(delta(a.clone()));
        }
        let totals = self.guard.counters.count(window, previous, &deltas).await?;
        for t in &totals {
            let est = estimates(t, elapsed);
            let probes = est.refusals.saturating_add(est.misses);
            if t.scope.starts_with("actor:") {
                let limit = self.budget_for(actor).await?.probes;
                if probes >= limit {
                    let detector = match (actor.kind, refusal) {
                        (ActorKind::Patient { .. }, _) => "breadth",
                        (_, Refusal::Missing) => "probing",
                        (_, Refusal::Denied(_)) => "breadth",
                    };
                    let reason = format!(
                        "{probes} refused or missing objects in window ({} refused, {} missing)",
                        est.refusals, est.misses
                    );
                    self.contain_actor(actor, ctx, detector, &reason).await?;
                }
            } else if Some(&t.scope) == address.as_ref()
                && probes >= self.guard.config.address.probes
            {
                let reason = format!("{probes} refused or missing objects from one address");
                self.contain_scope(&t.scope, "probing.address", &reason, None, None)
                    .await?;
            }
        }
        Ok(())
    }

    /// The budget for an actor; for staff, the distinct-patient limit follows the
    /// practice's normal for the role.
    async fn budget_for(&self, actor: &Actor) -> Result<Budget, CoreError> {
        let c = &self.guard.config;
        Ok(match actor.kind {
            ActorKind::Patient { .. } => c.patient,
            ActorKind::Staff { practice, role } => {
                let mut budget = match role {
                    StaffRole::Clinician | StaffRole::Nurse => c.clinical_staff,
                    StaffRole::Reception | StaffRole::PracticeAdmin => c.front_desk_staff,
                };
                let soft = self
                    .staff_patient_limit(practice, role, budget.patients.soft)
                    .await?;
                budget.patients = Limit::new(soft, soft.saturating_mul(2));
                budget
            }
            ActorKind::Operator { .. } => c.operator,
            // A practice system reads back what it feeds, at a clinician's pace.
            ActorKind::Integration { .. } => c.clinical_staff,
        })
    }

    /// `multiplier` × the practice's mean distinct patients per actor-window for the
    /// role over the last days, at least the role's configured soft limit and at most
    /// the ceiling; cached for ten minutes.
    async fn staff_patient_limit(
        &self,
        practice: tiaki_domain::PracticeId,
        role: StaffRole,
        role_default: u64,
    ) -> Result<u64, CoreError> {
        let key = (*practice.as_uuid(), role.as_str());
        if let Ok(cache) = self.guard.baselines.lock()
            && let Some((limit, at)) = cache.get(&key)
            && at.elapsed() < std::time::Duration::from_secs(600)
        {
            return Ok(*limit);
        }
        let c = &self.guard.config;
        let (window, _, _) = self.guard.window_of(OffsetDateTime::now_utc());
        let since = window - Duration::days(c.baseline_days);
        let (mean, _) = self
            .guard
            .counters
            .baseline(practice, role.as_str(), since, window)
            .await?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let relative = (mean * c.baseline_multiplier).ceil() as u64;
        let limit = relative.clamp(role_default, c.baseline_ceiling.max(role_default));
        if let Ok(mut cache) = self.guard.baselines.lock() {
            cache.insert(key, (limit, Instant::now()));
        }
        Ok(limit)
    }

    fn is_canary(&self, id: Option<uuid::Uuid>) -> bool {
        id.is_some_and(|id| {
            self.guard
                .cache
                .read()
                .is_ok_and(|c| c.canaries.contains(&id))
        })
    }

    /// Refuses an actor whose account or address is contained.
    fn not_blocked(&self, actor: &Actor, ctx: &RequestContext) -> Result<(), CoreError> {
        let cache = self
            .guard
            .cache
            .read()
            .map_err(|_| CoreError::Unavailable("guard cache poisoned".into()))?;
        if cache.blocked.is_empty() {
            return Ok(());
        }
        // Accounts and addresses are what the guard contains; a practice is never
        // contained as a whole (its budget alerts and asks for step-up instead).
        let actor_blocked = cache.blocked.contains_key(&actor_scope(actor.account));
        let address_blocked = address_scope(ctx).is_some_and(|a| cache.blocked.contains_key(&a));
        if actor_blocked || address_blocked {
            return Err(CoreError::Frozen);
        }
        Ok(())
    }

    /// Whether `module` is open (for a write, not read-only either).
    pub(crate) fn module_allows(&self, module: Module, write: bool) -> Result<(), CoreError> {
        let cache = self
            .guard
            .cache
            .read()
            .map_err(|_| CoreError::Unavailable("guard cache poisoned".into()))?;
        match cache.switches.get(module.as_str()) {
            Some(ModuleState::Closed) => Err(CoreError::ModuleClosed),
            Some(ModuleState::ReadOnly) if write => Err(CoreError::ModuleClosed),
            _ => Ok(()),
        }
    }

    /// Reloads decoys, containments and kill switches if the copy here is older than
    /// `refresh_seconds` (so a change made on another node applies within that).
    pub(crate) async fn refresh_guard_cache(&self) -> Result<(), CoreError> {
        let max_age = std::time::Duration::from_secs(self.guard.config.refresh_seconds);
        let fresh = |c: &Cache| c.loaded.is_some_and(|at| at.elapsed() < max_age);
        if self.guard.cache.read().is_ok_and(|c| fresh(&c)) {
            return Ok(());
        }
        let _one = self.guard.refresh.lock().await;
        if self.guard.cache.read().is_ok_and(|c| fresh(&c)) {
            return Ok(());
        }
        self.reload_guard_cache().await
    }

    pub(crate) async fn reload_guard_cache(&self) -> Result<(), CoreError> {
        let canaries = self.store.canaries().await?;
        let containments = self.store.containments_active().await?;
        let switches = self.store.module_switches().await?;
        let mut cache = self
            .guard
            .cache
            .write()
            .map_err(|_| CoreError::Unavailable("guard cache poisoned".into()))?;
        cache.canaries = canaries.into_iter().map(|c| c.id).collect();
        cache.blocked = containments.into_iter().map(|c| (c.scope, c.id)).collect();
        cache.switches = switches.into_iter().map(|s| (s.module, s.state)).collect();
        cache.loaded = Some(Instant::now());
        Ok(())
    }

    /// Contains an actor: every session and token revoked, the account frozen, the
    /// reason recorded and audited, an alert raised.
    pub(crate) async fn contain_actor(
        &self,
        actor: &Actor,
        ctx: &RequestContext,
        detector: &str,
        reason: &str,
    ) -> Result<(), CoreError> {
        let scope = actor_scope(actor.account);
        let id = self
            .contain_scope(&scope, detector, reason, Some(actor.account), None)
            .await?;
        let event = AuditEvent::named("guard.contain", Some(actor), None, Outcome::Allowed, ctx)
            .with_reason(detector);
        self.audit.record_event(&event).await?;
        tracing::warn!(containment = %id, account = %actor.account, detector, "actor contained");
        Ok(())
    }

    /// Records a containment of `scope` (unless one is already active), updates this
    /// node's copy and raises a critical alert. Returns the active containment's id.
    pub(crate) async fn contain_scope(
        &self,
        scope: &str,
        detector: &str,
        reason: &str,
        account: Option<tiaki_domain::AccountId>,
        by: Option<tiaki_domain::AccountId>,
    ) -> Result<uuid::Uuid, CoreError> {
        if let Some(id) = self
            .guard
            .cache
            .read()
            .ok()
            .and_then(|c| c.blocked.get(scope).copied())
        {
            return Ok(id);
        }
        let now = OffsetDateTime::now_utc();
        let containment = Containment {
            id: uuid::Uuid::now_v7(),
            scope: scope.to_owned(),
            account,
            detector: detector.to_owned(),
            reason: reason.to_owned(),
            created_at: now,
            created_by: by,
            released_at: None,
            released_by: None,
            release_reason: None,
        };
        self.store.containment_insert(&containment).await?;
        if let Ok(mut cache) = self.guard.cache.write() {
            cache.blocked.insert(scope.to_owned(), containment.id);
        }
        let practice = match account {
            Some(a) => self.store.account(a).await?.and_then(|a| match a.kind {
                ActorKind::Patient { practice, .. } | ActorKind::Staff { practice, .. } => {
                    Some(practice)
                }
                _ => None,
            }),
            None => None,
        };
        self.raise(Alert {
            id: uuid::Uuid::now_v7(),
            at: now,
            severity: Severity::Critical,
            detector: detector.to_owned(),
            scope: scope.to_owned(),
            account,
            practice,
            summary: format!("contained: {reason}"),
            containment: Some(containment.id),
        })
        .await;
        Ok(containment.id)
    }

    async fn alert_once(
        &self,
        scope: &str,
        window: i64,
        measure: &'static str,
        severity: Severity,
        actor: &Actor,
        summary: &str,
    ) {
        let first = self
            .guard
            .alerted
            .lock()
            .is_ok_and(|mut seen| seen.insert((scope.to_owned(), window, measure)));
        if !first {
            return;
        }
        self.raise(Alert {
            id: uuid::Uuid::now_v7(),
            at: OffsetDateTime::now_utc(),
            severity,
            detector: format!("budget.{measure}"),
            scope: scope.to_owned(),
            account: Some(actor.account),
            practice: actor.practice(),
            summary: summary.to_owned(),
            containment: None,
        })
        .await;
    }

    /// Sends an alert to every sink. An alert that cannot be stored is still logged
    /// and sent: the containment it reports has already happened.
    pub(crate) async fn raise(&self, alert: Alert) {
        if let Err(e) = self.store.alert_insert(&alert).await {
            tracing::error!(alert = %alert.id, error = %e, "guard alert not stored");
        }
        self.guard.sinks.send(&alert);
        if let Some(to) = &self.guard.config.alert_email
            && alert.severity >= Severity::Warning
        {
            let email = crate::mail::Email {
                subject: format!(
                    "[Tiaki guard] {} {}: {}",
                    alert.severity.as_str(),
                    alert.detector,
                    alert.scope
                ),
                body: format!(
                    "The guard raised an alert.\n\nWhen: {}\nSeverity: {}\nDetector: {}\nScope: {}\n\
                     What: {}\nContainment: {}\nAlert id: {}\n\nOpen the operator's guard page \
                     (/operator/guard) to see it and to contain or release.\n",
                    alerts::rfc3339(alert.at),
                    alert.severity.as_str(),
                    alert.detector,
                    alert.scope,
                    alert.summary,
                    alert
                        .containment
                        .map_or_else(|| "none".to_owned(), |c| c.to_string()),
                    alert.id
                ),
            };
            if let Err(e) = self.mailer.send(to, email) {
                tracing::error!(alert = %alert.id, error = %e, "guard alert email not sent");
            }
        }
    }

    /// Registers a decoy patient or document (which must exist) and reloads this
    /// node's copy of the decoys.
    pub async fn register_canary(
        &self,
        kind: tiaki_store::CanaryKind,
        id: uuid::Uuid,
        practice: tiaki_domain::PracticeId,
    ) -> Result<(), CoreError> {
        self.store
            .canary_insert(&tiaki_store::Canary {
                id,
                kind,
                practice,
                created_at: OffsetDateTime::now_utc(),
            })
            .await?;
        self.reload_guard_cache().await
    }

    /// Every decoy (for the operator console).
    pub async fn canaries(&self) -> Result<Vec<tiaki_store::Canary>, CoreError> {
        Ok(self.store.canaries().await?)
    }

    /// Forgets counters older than two windows plus the baseline period.
    pub async fn guard_prune(&self) -> Result<u64, CoreError> {
        let c = &self.guard.config;
        let (window, _, _) = self.guard.window_of(OffsetDateTime::now_utc());
        let before = window - Duration::days(c.baseline_days) - Duration::hours(1);
        let old_window = (window
            - Duration::seconds(2 * i64::try_from(c.window_seconds).unwrap_or(3600)))
        .unix_timestamp();
        if let Ok(mut alerted) = self.guard.alerted.lock() {
            alerted.retain(|(_, w, _)| *w >= old_window);
        }
        Ok(self.guard.counters.prune(before).await?)
    }
}

/// The highest level any measure of `est` reaches against `budget`, and which measure.
fn over(budget: &Budget, est: &Counts) -> (Level, &'static str) {
    let measures = [
        ("documents", budget.documents, est.documents),
        ("bytes", budget.bytes, est.bytes),
        ("patients", budget.patients, est.patients),
    ];
    let mut worst = (Level::Within, "documents");
    for (name, limit, value) in measures {
        let level = if value >= limit.hard {
            Level::Hard
        } else if value > limit.soft {
            Level::Soft
        } else {
            Level::Within
        };
        if level > worst.0 {
            worst = (level, name);
        }
    }
    worst
}

fn figure(est: &Counts, measure: &str) -> u64 {
    match measure {
        "bytes" => est.bytes,
        "patients" => est.patients,
        _ => est.documents,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sliding_estimate_carries_the_unexpired_part_of_the_last_window() {
        assert_eq!(estimate(10, 0, 0.3), 10);
        assert_eq!(estimate(10, 100, 0.0), 110);
        assert_eq!(estimate(10, 100, 0.25), 85);
        assert_eq!(estimate(10, 100, 1.0), 10);
        assert_eq!(estimate(u64::MAX, 100, 0.0), u64::MAX);
    }

    fn counts(documents: u64, bytes: u64, patients: u64) -> Counts {
        Counts {
            documents,
            bytes,
            patients,
            refusals: 0,
            misses: 0,
        }
    }

    #[test]
    fn soft_is_crossed_past_the_limit_and_hard_at_it() {
        let b = Budget {
            documents: Limit::new(50, 100),
            bytes: Limit::new(1000, 2000),
            patients: Limit::new(20, 40),
            probes: 3,
        };
        assert_eq!(over(&b, &counts(50, 0, 20)).0, Level::Within);
        assert_eq!(over(&b, &counts(51, 0, 0)), (Level::Soft, "documents"));
        assert_eq!(over(&b, &counts(99, 0, 0)), (Level::Soft, "documents"));
        assert_eq!(over(&b, &counts(100, 0, 0)), (Level::Hard, "documents"));
        assert_eq!(over(&b, &counts(1, 1500, 0)), (Level::Soft, "bytes"));
        // The worst measure wins.
        assert_eq!(over(&b, &counts(60, 0, 40)), (Level::Hard, "patients"));
        assert_eq!(over(&b, &counts(0, 0, 0)).0, Level::Within);
        let none = Budget {
            documents: Limit::NONE,
            bytes: Limit::NONE,
            patients: Limit::NONE,
            probes: u64::MAX,
        };
        assert_eq!(
            over(&none, &counts(u64::MAX - 1, u64::MAX - 1, 0)).0,
            Level::Within
        );
    }

    #[test]
    fn windows_are_aligned_and_the_elapsed_share_is_a_fraction() {
        let config = GuardConfig {
            window_seconds: 60,
            shared_counters: Some(false),
            ..GuardConfig::default()
        };
        let guard = Guard {
            config,
            counters: Counters::Memory(Mutex::default()),
            cache: RwLock::default(),
            refresh: tokio::sync::Mutex::new(()),
            baselines: Mutex::default(),
            alerted: Mutex::default(),
            sinks: AlertSinks::new(None),
        };
        let now =
            OffsetDateTime::from_unix_timestamp(1_000_015).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let (window, previous, elapsed) = guard.window_of(now);
        assert_eq!(window.unix_timestamp(), 1_000_020 - 60);
        assert_eq!(previous.unix_timestamp(), 1_000_020 - 120);
        assert!((elapsed - 55.0 / 60.0).abs() < 1e-9);
    }
}
