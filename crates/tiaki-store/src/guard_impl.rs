//! [`GuardStore`](crate::guard::GuardStore) for both backends. The SQL is the same on
//! SQLite and PostgreSQL (booleans and uuids bind natively on each), so one macro writes
//! both implementations; only how a write transaction begins differs.

use crate::codec::{from_nanos, opt_from_nanos, to_u64};
use crate::error::StoreError;
use crate::guard::{
    Alert, Canary, CanaryKind, Containment, Counts, ModuleState, ModuleSwitch, Severity,
};
use tiaki_domain::{AccountId, PracticeId};
use uuid::Uuid;

/// The most rows a listing returns.
pub(crate) const LIST_CAP: u32 = 1_000;

#[derive(sqlx::FromRow)]
pub(crate) struct CountsRow {
    pub(crate) window_start_ns: i64,
    documents: i64,
    bytes: i64,
    patients: i64,
    refusals: i64,
    misses: i64,
}

impl TryFrom<&CountsRow> for Counts {
    type Error = StoreError;
    fn try_from(r: &CountsRow) -> Result<Self, StoreError> {
        Ok(Self {
            documents: to_u64(r.documents, "guard documents")?,
            bytes: to_u64(r.bytes, "guard bytes")?,
            patients: to_u64(r.patients, "guard patients")?,
            refusals: to_u64(r.refusals, "guard refusals")?,
            misses: to_u64(r.misses, "guard misses")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CanaryRow {
    id: Uuid,
    kind: String,
    practice_id: Uuid,
    created_at_ns: i64,
}

impl TryFrom<CanaryRow> for Canary {
    type Error = StoreError;
    fn try_from(r: CanaryRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            kind: CanaryKind::parse(&r.kind).ok_or_else(|| StoreError::corrupt("canary kind"))?,
            practice: PracticeId::from_uuid(r.practice_id),
            created_at: from_nanos(r.created_at_ns)?,
        })
    }
}

pub(crate) const CONTAINMENT_COLUMNS: &str = "id, scope, account_id, detector, reason, \
     created_at_ns, created_by, released_at_ns, released_by, release_reason";

#[derive(sqlx::FromRow)]
pub(crate) struct ContainmentRow {
    id: Uuid,
    scope: String,
    account_id: Option<Uuid>,
    detector: String,
    reason: String,
    created_at_ns: i64,
    created_by: Option<Uuid>,
    released_at_ns: Option<i64>,
    released_by: Option<Uuid>,
    release_reason: Option<String>,
}

impl TryFrom<ContainmentRow> for Containment {
    type Error = StoreError;
    fn try_from(r: ContainmentRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            scope: r.scope,
            account: r.account_id.map(AccountId::from_uuid),
            detector: r.detector,
            reason: r.reason,
            created_at: from_nanos(r.created_at_ns)?,
            created_by: r.created_by.map(AccountId::from_uuid),
            released_at: opt_from_nanos(r.released_at_ns)?,
            released_by: r.released_by.map(AccountId::from_uuid),
            release_reason: r.release_reason,
        })
    }
}

pub(crate) const ALERT_COLUMNS: &str =
    "id, at_ns, severity, detector, scope, account_id, practice_id, summary, containment_id";

#[derive(sqlx::FromRow)]
pub(crate) struct AlertRow {
    id: Uuid,
    at_ns: i64,
    severity: String,
    detector: String,
    scope: String,
    account_id: Option<Uuid>,
    practice_id: Option<Uuid>,
    summary: String,
    containment_id: Option<Uuid>,
}

impl TryFrom<AlertRow> for Alert {
    type Error = StoreError;
    fn try_from(r: AlertRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            at: from_nanos(r.at_ns)?,
            severity: Severity::parse(&r.severity)
                .ok_or_else(|| StoreError::corrupt("alert severity"))?,
            detector: r.detector,
            scope: r.scope,
            account: r.account_id.map(AccountId::from_uuid),
            practice: r.practice_id.map(PracticeId::from_uuid),
            summary: r.summary,
            containment: r.containment_id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SwitchRow {
    module: String,
    state: String,
    reason: String,
    changed_at_ns: i64,
    changed_by: Option<Uuid>,
}

impl TryFrom<SwitchRow> for ModuleSwitch {
    type Error = StoreError;
    fn try_from(r: SwitchRow) -> Result<Self, StoreError> {
        Ok(Self {
            module: r.module,
            state: ModuleState::parse(&r.state)
                .ok_or_else(|| StoreError::corrupt("module state"))?,
            reason: r.reason,
            changed_at: from_nanos(r.changed_at_ns)?,
            changed_by: r.changed_by.map(AccountId::from_uuid),
        })
    }
}

/// Writes `impl GuardStore for $store`; `$begin` turns the pool into a write
/// transaction.
macro_rules! impl_guard_store {
    ($store:ty, many_nodes: $many:literal, |$pool:ident| $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::guard::GuardStore for $store {
            fn serves_many_nodes(&self) -> bool {
                $many
            }

            async fn guard_count(
                &self,
                window_start: ::time::OffsetDateTime,
                previous_start: ::time::OffsetDateTime,
                deltas: &[$crate::guard::CounterDelta],
            ) -> Result<Vec<$crate::guard::CounterTotals>, $crate::error::StoreError> {
                use $crate::codec::{nanos, to_i64};
                use $crate::guard::{CounterTotals, Counts};
                use $crate::guard_impl::CountsRow;
                let window = nanos(window_start)?;
                let previous = nanos(previous_start)?;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let mut totals = Vec::with_capacity(deltas.len());
                for d in deltas {
                    let mut new_patient = 0_i64;
                    if let Some(patient) = d.patient {
                        let seen = sqlx::query(
                            "INSERT INTO guard_seen (scope, window_start_ns, patient_id) \
                             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        )
                        .bind(&d.scope)
                        .bind(window)
                        .bind(patient.as_uuid())
                        .execute(&mut *tx)
                        .await?;
                        new_patient = i64::try_from(seen.rows_affected()).unwrap_or(0);
                    }
                    sqlx::query(
                        "INSERT INTO guard_counters (scope, window_start_ns, practice_id, role, \
                         documents, bytes, patients, refusals, misses) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         ON CONFLICT (scope, window_start_ns) DO UPDATE SET \
                         documents = guard_counters.documents + excluded.documents, \
                         bytes = guard_counters.bytes + excluded.bytes, \
                         patients = guard_counters.patients + excluded.patients, \
                         refusals = guard_counters.refusals + excluded.refusals, \
                         misses = guard_counters.misses + excluded.misses",
                    )
                    .bind(&d.scope)
                    .bind(window)
                    .bind(d.practice.map(|p| *p.as_uuid()))
                    .bind(d.role.as_deref())
                    .bind(to_i64(d.documents)?)
                    .bind(to_i64(d.bytes)?)
                    .bind(new_patient)
                    .bind(to_i64(d.refusals)?)
                    .bind(to_i64(d.misses)?)
                    .execute(&mut *tx)
                    .await?;
                    let rows: Vec<CountsRow> = sqlx::query_as(
                        "SELECT window_start_ns, documents, bytes, patients, refusals, misses \
                         FROM guard_counters WHERE scope = $1 AND window_start_ns IN ($2, $3)",
                    )
                    .bind(&d.scope)
                    .bind(window)
                    .bind(previous)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut current = Counts::default();
                    let mut before = Counts::default();
                    for row in &rows {
                        if row.window_start_ns == window {
                            current = Counts::try_from(row)?;
                        } else {
                            before = Counts::try_from(row)?;
                        }
                    }
                    totals.push(CounterTotals {
                        scope: d.scope.clone(),
                        current,
                        previous: before,
                    });
                }
                tx.commit().await?;
                Ok(totals)
            }

            async fn guard_baseline(
                &self,
                practice: ::tiaki_domain::PracticeId,
                role: &str,
                since: ::time::OffsetDateTime,
                before: ::time::OffsetDateTime,
            ) -> Result<(f64, u64), $crate::error::StoreError> {
                use $crate::codec::{nanos, to_u64};
                let (sum, n): (Option<i64>, i64) = sqlx::query_as(
                    "SELECT CAST(SUM(patients) AS BIGINT), COUNT(*) FROM guard_counters \
                     WHERE practice_id = $1 AND role = $2 AND window_start_ns >= $3 \
                     AND window_start_ns < $4 AND patients > 0",
                )
                .bind(practice.as_uuid())
                .bind(role)
                .bind(nanos(since)?)
                .bind(nanos(before)?)
                .fetch_one(&self.pool)
                .await?;
                let n = to_u64(n, "baseline windows")?;
                let sum = to_u64(sum.unwrap_or(0), "baseline patients")?;
                #[allow(clippy::cast_precision_loss)]
                let mean = if n == 0 { 0.0 } else { sum as f64 / n as f64 };
                Ok((mean, n))
            }

            async fn guard_reset(&self, scope: &str) -> Result<(), $crate::error::StoreError> {
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                sqlx::query("DELETE FROM guard_seen WHERE scope = $1")
                    .bind(scope)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM guard_counters WHERE scope = $1")
                    .bind(scope)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn guard_prune(
                &self,
                before: ::time::OffsetDateTime,
            ) -> Result<u64, $crate::error::StoreError> {
                let before = $crate::codec::nanos(before)?;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let seen = sqlx::query("DELETE FROM guard_seen WHERE window_start_ns < $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await?;
                let counters = sqlx::query("DELETE FROM guard_counters WHERE window_start_ns < $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(seen.rows_affected() + counters.rows_affected())
            }

            async fn canary_insert(
                &self,
                canary: &$crate::guard::Canary,
            ) -> Result<(), $crate::error::StoreError> {
                sqlx::query(
                    "INSERT INTO guard_canaries (id, kind, practice_id, created_at_ns) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(canary.id)
                .bind(canary.kind.as_str())
                .bind(canary.practice.as_uuid())
                .bind($crate::codec::nanos(canary.created_at)?)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn canaries(
                &self,
            ) -> Result<Vec<$crate::guard::Canary>, $crate::error::StoreError> {
                let rows: Vec<$crate::guard_impl::CanaryRow> = sqlx::query_as(
                    "SELECT id, kind, practice_id, created_at_ns FROM guard_canaries ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn containment_insert(
                &self,
                c: &$crate::guard::Containment,
            ) -> Result<(), $crate::error::StoreError> {
                use $crate::codec::nanos;
                let at = nanos(c.created_at)?;
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                sqlx::query(
                    "INSERT INTO guard_containments (id, scope, account_id, detector, reason, \
                     created_at_ns, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(c.id)
                .bind(&c.scope)
                .bind(c.account.map(|a| *a.as_uuid()))
                .bind(&c.detector)
                .bind(&c.reason)
                .bind(at)
                .bind(c.created_by.map(|a| *a.as_uuid()))
                .execute(&mut *tx)
                .await?;
                if let Some(account) = c.account {
                    sqlx::query("UPDATE accounts SET disabled = $2 WHERE id = $1")
                        .bind(account.as_uuid())
                        .bind(true)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "UPDATE sessions SET revoked_at_ns = $2 \
                         WHERE account_id = $1 AND revoked_at_ns IS NULL",
                    )
                    .bind(account.as_uuid())
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn containment_release(
                &self,
                id: ::uuid::Uuid,
                by: Option<::tiaki_domain::AccountId>,
                reason: &str,
                at: ::time::OffsetDateTime,
            ) -> Result<bool, $crate::error::StoreError> {
                let $pool = &self.pool;
                let mut tx = $begin.await?;
                let account: Option<(Option<::uuid::Uuid>,)> = sqlx::query_as(
                    "UPDATE guard_containments SET released_at_ns = $2, released_by = $3, \
                     release_reason = $4 WHERE id = $1 AND released_at_ns IS NULL \
                     RETURNING account_id",
                )
                .bind(id)
                .bind($crate::codec::nanos(at)?)
                .bind(by.map(|a| *a.as_uuid()))
                .bind(reason)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((account,)) = account else {
                    return Ok(false);
                };
                if let Some(account) = account {
                    sqlx::query(
                        "UPDATE accounts SET disabled = $2 WHERE id = $1 AND NOT EXISTS \
                         (SELECT 1 FROM guard_containments WHERE account_id = $1 \
                         AND released_at_ns IS NULL)",
                    )
                    .bind(account)
                    .bind(false)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn containments_active(
                &self,
            ) -> Result<Vec<$crate::guard::Containment>, $crate::error::StoreError> {
                let sql = format!(
                    "SELECT {} FROM guard_containments WHERE released_at_ns IS NULL \
                     ORDER BY created_at_ns DESC LIMIT {}",
                    $crate::guard_impl::CONTAINMENT_COLUMNS,
                    $crate::guard_impl::LIST_CAP
                );
                let rows: Vec<$crate::guard_impl::ContainmentRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn containments_recent(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::guard::Containment>, $crate::error::StoreError> {
                let sql = format!(
                    "SELECT {} FROM guard_containments ORDER BY created_at_ns DESC LIMIT $1",
                    $crate::guard_impl::CONTAINMENT_COLUMNS
                );
                let rows: Vec<$crate::guard_impl::ContainmentRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(i64::from(limit.min($crate::guard_impl::LIST_CAP)))
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn alert_insert(
                &self,
                alert: &$crate::guard::Alert,
            ) -> Result<(), $crate::error::StoreError> {
                sqlx::query(
                    "INSERT INTO guard_alerts (id, at_ns, severity, detector, scope, account_id, \
                     practice_id, summary, containment_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(alert.id)
                .bind($crate::codec::nanos(alert.at)?)
                .bind(alert.severity.as_str())
                .bind(&alert.detector)
                .bind(&alert.scope)
                .bind(alert.account.map(|a| *a.as_uuid()))
                .bind(alert.practice.map(|p| *p.as_uuid()))
                .bind(&alert.summary)
                .bind(alert.containment)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn alerts_recent(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::guard::Alert>, $crate::error::StoreError> {
                let sql = format!(
                    "SELECT {} FROM guard_alerts ORDER BY at_ns DESC, id DESC LIMIT $1",
                    $crate::guard_impl::ALERT_COLUMNS
                );
                let rows: Vec<$crate::guard_impl::AlertRow> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(i64::from(limit.min($crate::guard_impl::LIST_CAP)))
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn module_switch_put(
                &self,
                switch: &$crate::guard::ModuleSwitch,
            ) -> Result<(), $crate::error::StoreError> {
                sqlx::query(
                    "INSERT INTO module_switches (module, state, reason, changed_at_ns, changed_by) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (module) DO UPDATE SET \
                     state = excluded.state, reason = excluded.reason, \
                     changed_at_ns = excluded.changed_at_ns, changed_by = excluded.changed_by",
                )
                .bind(&switch.module)
                .bind(switch.state.as_str())
                .bind(&switch.reason)
                .bind($crate::codec::nanos(switch.changed_at)?)
                .bind(switch.changed_by.map(|a| *a.as_uuid()))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn module_switches(
                &self,
            ) -> Result<Vec<$crate::guard::ModuleSwitch>, $crate::error::StoreError> {
                let rows: Vec<$crate::guard_impl::SwitchRow> = sqlx::query_as(
                    "SELECT module, state, reason, changed_at_ns, changed_by \
                     FROM module_switches ORDER BY module",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }
        }
    };
}

pub(crate) use impl_guard_store;
