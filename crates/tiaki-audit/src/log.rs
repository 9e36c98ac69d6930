//! The append interface and the receipts it issues.

use crate::event::{AuditEvent, Outcome, RequestContext};
use std::sync::{Arc, Mutex};
use tiaki_domain::{AccessId, Action, Actor, Denied, Grant, Target};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The event could not be made durable; whatever it was for must not happen.
    #[error("the audit log could not record the event: {0}")]
    Unavailable(String),
}

/// Durable storage for events. `append` returns only after the events are committed,
/// with the sequence number each was given, in order.
#[async_trait::async_trait]
pub trait AuditSink: Send + Sync + 'static {
    async fn append(&self, events: &[AuditEvent]) -> Result<Vec<u64>, AuditError>;
}

/// Proof that an allowed access was durably recorded. Only [`AuditLog::record`] makes
/// one, and only after the append committed. It cannot be built anywhere else:
///
/// ```compile_fail,E0451
/// use tiaki_audit::Receipt;
/// use tiaki_domain::{AccessId, Action, Actor, Target};
/// fn forge(actor: Actor, target: Target) -> Receipt {
///     Receipt {
///         access_id: AccessId::new(),
///         sequence: 0,
///         actor,
///         action: Action::ReadDocumentContent,
///         target,
///         recorded_at: time::OffsetDateTime::now_utc(),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    access_id: AccessId,
    sequence: u64,
    actor: Actor,
    action: Action,
    target: Target,
    recorded_at: OffsetDateTime,
}

impl Receipt {
    /// The id of the audit event; served copies are marked with it.
    #[must_use]
    pub fn access_id(&self) -> AccessId {
        self.access_id
    }

    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    #[must_use]
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    #[must_use]
    pub fn action(&self) -> Action {
        self.action
    }

    #[must_use]
    pub fn target(&self) -> &Target {
        &self.target
    }

    #[must_use]
    pub fn recorded_at(&self) -> OffsetDateTime {
        self.recorded_at
    }
}

/// Most events committed in one transaction.
const MAX_BATCH: usize = 1024;

struct Pending {
    event: AuditEvent,
    reply: oneshot::Sender<Result<u64, AuditError>>,
}

/// The audit log as the rest of Tiaki sees it. Appends go through one sequencer task
/// that commits whatever has queued up while the previous commit was in flight as one
/// transaction (group commit); each caller gets its sequence number only after its
/// batch is durable.
#[derive(Clone)]
pub struct AuditLog {
    sink: Arc<dyn AuditSink>,
    queue: Option<mpsc::Sender<Pending>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Starts the sequencer on the current Tokio runtime (without one, each append
    /// commits on its own).
    #[must_use]
    pub fn new(sink: Arc<dyn AuditSink>) -> Self {
        let queue = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
            runtime.spawn(sequence(sink.clone(), rx));
            tx
        });
        Self { sink, queue }
    }

    /// Records an allowed access and returns its receipt. Fails closed: no receipt
    /// unless the event is durable.
    pub async fn record(
        &self,
        grant: &Grant,
        ctx: &RequestContext,
        bytes: Option<u64>,
    ) -> Result<Receipt, AuditError> {
        let mut event = AuditEvent::new(
            Some(grant.actor()),
            grant.action(),
            Some(grant.target()),
            Outcome::Allowed,
            ctx,
        )
        .attributed_to(grant);
        event.bytes = bytes;
        let sequence = self.append_one(&event).await?;
        Ok(Receipt {
            access_id: event.id,
            sequence,
            actor: *grant.actor(),
            action: grant.action(),
            target: *grant.target(),
            recorded_at: event.at,
        })
    }

    /// Records a refusal (the caller saw 404).
    pub async fn record_denied(
        &self,
        actor: &Actor,
        action: Action,
        target: &Target,
        denied: Denied,
        ctx: &RequestContext,
    ) -> Result<(), AuditError> {
        let event = AuditEvent::new(Some(actor), action, Some(target), Outcome::Denied, ctx)
            .with_reason(denied.as_str());
        self.append_one(&event).await.map(|_| ())
    }

    /// Records any other event (a miss, a login, a logout).
    pub async fn record_event(&self, event: &AuditEvent) -> Result<u64, AuditError> {
        self.append_one(event).await
    }

    async fn append_one(&self, event: &AuditEvent) -> Result<u64, AuditError> {
        let Some(queue) = &self.queue else {
            let sequences = self.sink.append(std::slice::from_ref(event)).await?;
            return sequences
                .first()
                .copied()
                .ok_or_else(|| AuditError::Unavailable("the sink acknowledged no event".into()));
        };
        let (reply, answer) = oneshot::channel();
        queue
            .send(Pending {
                event: event.clone(),
                reply,
            })
            .await
            .map_err(|_| AuditError::Unavailable("the audit sequencer has stopped".into()))?;
        answer
            .await
            .map_err(|_| AuditError::Unavailable("the audit sequencer dropped the event".into()))?
    }
}

/// The sequencer: one batch in flight at a time, the next formed from whatever queued.
async fn sequence(sink: Arc<dyn AuditSink>, mut rx: mpsc::Receiver<Pending>) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let events: Vec<AuditEvent> = batch.iter().map(|p| p.event.clone()).collect();
        let result = sink.append(&events).await;
        match result {
            Ok(sequences) if sequences.len() == batch.len() => {
                for (pending, seq) in batch.drain(..).zip(sequences) {
                    let _ = pending.reply.send(Ok(seq));
                }
            }
            Ok(_) => {
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Err(AuditError::Unavailable(
                        "the sink acknowledged a different number of events".into(),
                    )));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for pending in batch.drain(..) {
                    let _ = pending
                        .reply
                        .send(Err(AuditError::Unavailable(message.clone())));
                }
            }
        }
    }
}

/// An in-memory sink: for unit tests of crates that need real receipts, and for
/// tools that verify a log offline. Never used by the server.
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemorySink {
    #[must_use]
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl AuditSink for MemorySink {
    async fn append(&self, events: &[AuditEvent]) -> Result<Vec<u64>, AuditError> {
        let mut stored = self
            .events
            .lock()
            .map_err(|_| AuditError::Unavailable("memory sink poisoned".into()))?;
        let start = stored.len() as u64;
        stored.extend_from_slice(events);
        Ok((start..start + events.len() as u64).collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tiaki_domain::{
        AccountId, ActorKind, DocumentId, PatientId, PracticeId, SessionId, authorize,
    };

    struct Broken;

    #[async_trait::async_trait]
    impl AuditSink for Broken {
        async fn append(&self, _: &[AuditEvent]) -> Result<Vec<u64>, AuditError> {
            Err(AuditError::Unavailable("disk full".into()))
        }
    }

    fn patient_grant() -> Grant {
        let patient = PatientId::new();
        let practice = PracticeId::new();
        let actor = Actor {
            account: AccountId::new(),
            session: SessionId::new(),
            kind: ActorKind::Patient { patient, practice },
        };
        let target = Target::Document {
            document: DocumentId::new(),
            patient,
            practice,
        };
        authorize(&actor, Action::ReadDocumentContent, target).unwrap()
    }

    #[tokio::test]
    async fn a_receipt_names_the_recorded_event() {
        let sink = Arc::new(MemorySink::default());
        let log = AuditLog::new(sink.clone());
        let grant = patient_grant();
        let receipt = log
            .record(&grant, &RequestContext::default(), Some(10))
            .await
            .unwrap();
        let events = sink.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, receipt.access_id());
        assert_eq!(events[0].document, grant.target().document());
        assert_eq!(events[0].bytes, Some(10));
        assert_eq!(receipt.target(), grant.target());
    }

    #[tokio::test]
    async fn no_receipt_when_the_append_fails() {
        let log = AuditLog::new(Arc::new(Broken));
        assert!(
            log.record(&patient_grant(), &RequestContext::default(), None)
                .await
                .is_err()
        );
    }
}
