//! Where the guard counts: in the database, shared by every web node, or in this
//! process for a single node. Both answer the same question the same way: after adding
//! these deltas, what are each scope's totals for this window and the previous one?

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tiaki_domain::{PatientId, PracticeId};
use tiaki_store::{CounterDelta, CounterTotals, Counts, Store, StoreError};
use time::OffsetDateTime;

pub(crate) enum Counters {
    Shared(Arc<dyn Store>),
    Memory(Mutex<MemoryCounters>),
}

#[derive(Default)]
pub(crate) struct MemoryCounters {
    /// scope -> window start in seconds -> counts, with the actor's practice and role.
    /// Keyed by scope first so a read looks its scope up without allocating.
    rows: HashMap<String, HashMap<i64, Row>>,
    /// scope -> (window, patient) pairs seen.
    seen: HashMap<String, HashSet<(i64, PatientId)>>,
}

struct Row {
    practice: Option<PracticeId>,
    role: Option<String>,
    counts: Counts,
}

impl Counters {
    pub(crate) async fn count(
        &self,
        window: OffsetDateTime,
        previous: OffsetDateTime,
        deltas: &[CounterDelta],
    ) -> Result<Vec<CounterTotals>, StoreError> {
        match self {
            Self::Shared(store) => store.guard_count(window, previous, deltas).await,
            Self::Memory(memory) => {
                let mut m = memory
                    .lock()
                    .map_err(|_| StoreError::Unavailable("guard counters poisoned".into()))?;
                Ok(m.count(window.unix_timestamp(), previous.unix_timestamp(), deltas))
            }
        }
    }

    pub(crate) async fn baseline(
        &self,
        practice: PracticeId,
        role: &str,
        since: OffsetDateTime,
        before: OffsetDateTime,
    ) -> Result<(f64, u64), StoreError> {
        match self {
            Self::Shared(store) => store.guard_baseline(practice, role, since, before).await,
            Self::Memory(memory) => {
                let m = memory
                    .lock()
                    .map_err(|_| StoreError::Unavailable("guard counters poisoned".into()))?;
                let (since, before) = (since.unix_timestamp(), before.unix_timestamp());
                let windows: Vec<u64> = m
                    .rows
                    .values()
                    .flat_map(|by_window| by_window.iter())
                    .filter(|(start, row)| {
                        (since..before).contains(*start)
                            && row.practice == Some(practice)
                            && row.role.as_deref() == Some(role)
                            && row.counts.patients > 0
                    })
                    .map(|(_, row)| row.counts.patients)
                    .collect();
                let n = windows.len() as u64;
                #[allow(clippy::cast_precision_loss)]
                let mean = if n == 0 {
                    0.0
                } else {
                    windows.iter().sum::<u64>() as f64 / n as f64
                };
                Ok((mean, n))
            }
        }
    }

    pub(crate) async fn reset(&self, scope: &str) -> Result<(), StoreError> {
        match self {
            Self::Shared(store) => store.guard_reset(scope).await,
            Self::Memory(memory) => {
                let mut m = memory
                    .lock()
                    .map_err(|_| StoreError::Unavailable("guard counters poisoned".into()))?;
                m.rows.remove(scope);
                m.seen.remove(scope);
                Ok(())
            }
        }
    }

    pub(crate) async fn prune(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        match self {
            Self::Shared(store) => store.guard_prune(before).await,
            Self::Memory(memory) => {
                let mut m = memory
                    .lock()
                    .map_err(|_| StoreError::Unavailable("guard counters poisoned".into()))?;
                let before = before.unix_timestamp();
                let mut removed = 0_u64;
                for by_window in m.rows.values_mut() {
                    let n = by_window.len();
                    by_window.retain(|start, _| *start >= before);
                    removed += (n - by_window.len()) as u64;
                }
                for pairs in m.seen.values_mut() {
                    let n = pairs.len();
                    pairs.retain(|(start, _)| *start >= before);
                    removed += (n - pairs.len()) as u64;
                }
                m.rows.retain(|_, by_window| !by_window.is_empty());
                m.seen.retain(|_, pairs| !pairs.is_empty());
                Ok(removed)
            }
        }
    }
}

impl MemoryCounters {
    fn count(&mut self, window: i64, previous: i64, deltas: &[CounterDelta]) -> Vec<CounterTotals> {
        deltas
            .iter()
            .map(|d| {
                let new_patient = d.patient.is_some_and(|p| {
                    if let Some(pairs) = self.seen.get_mut(&d.scope) {
                        pairs.insert((window, p))
                    } else {
                        self.seen
                            .insert(d.scope.clone(), HashSet::from([(window, p)]));
                        true
                    }
                });
                if !self.rows.contains_key(&d.scope) {
                    self.rows.insert(d.scope.clone(), HashMap::new());
                }
                let by_window = self.rows.get_mut(&d.scope);
                let (current, before) = by_window.map_or_else(Default::default, |by_window| {
                    let row = by_window.entry(window).or_insert_with(|| Row {
                        practice: d.practice,
                        role: d.role.clone(),
                        counts: Counts::default(),
                    });
                    let c = &mut row.counts;
                    c.documents = c.documents.saturating_add(d.documents);
                    c.bytes = c.bytes.saturating_add(d.bytes);
                    c.patients = c.patients.saturating_add(u64::from(new_patient));
                    c.refusals = c.refusals.saturating_add(d.refusals);
                    c.misses = c.misses.saturating_add(d.misses);
                    let current = *c;
                    let before = by_window
                        .get(&previous)
                        .map(|r| r.counts)
                        .unwrap_or_default();
                    (current, before)
                });
                CounterTotals {
                    scope: d.scope.clone(),
                    current,
                    previous: before,
                }
            })
            .collect()
    }
}
