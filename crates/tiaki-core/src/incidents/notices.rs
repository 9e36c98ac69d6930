//! Patient notices: rendered from the published scope by the same function as the
//! security status page, queued once per (incident, patient), and sent by one run at a
//! time at a controlled rate. A run that dies leaves its claimed notices `sending`; the
//! next run delivers them again under the same key, which the outbox refuses to write
//! twice and receiving mail systems recognise by its Message-ID.

use super::status::{IncidentStatus, section};
use crate::mail::{Delivery, Email};
use crate::{CoreError, Tiaki};
use std::collections::HashMap;
use std::time::Duration;
use tiaki_audit::RequestContext;
use tiaki_domain::{PatientId, Target};
use tiaki_store::{Incident, IncidentAccess, NoticeDraft, NoticeRecipient, NoticeState};
use time::OffsetDateTime;
use uuid::Uuid;

/// Patients rendered per page while queueing.
const PAGE: u32 = 1_000;
/// How long a sending run's lease lasts without renewal.
const LEASE: time::Duration = time::Duration::seconds(15);
/// Delivery attempts before a notice is marked failed.
const ATTEMPTS: u32 = 5;

/// What queueing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueReport {
    pub version: u64,
    pub patients: u64,
    pub added: u64,
}

/// What a sending run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendReport {
    pub sent: u64,
    /// Already in the outbox from a run that died after writing it.
    pub already_delivered: u64,
    pub failed: u64,
    /// Total notices of the incident, and how many are finished (sent, no address or
    /// failed).
    pub total: u64,
    pub finished: u64,
}

/// How a sending run goes.
#[derive(Debug, Clone, Copy)]
pub struct NoticeRun {
    /// Notices per second at most.
    pub per_second: u32,
    /// Stop after this many deliveries (for a staged roll-out); `None`: until done.
    pub limit: Option<u64>,
}

/// The notice for one patient about one incident.
#[must_use]
pub fn render(recipient: &NoticeRecipient, status: &IncidentStatus, base_url: &str) -> Email {
    let mut lines = String::new();
    for access in &status.accesses {
        lines.push_str("  - ");
        lines.push_str(&access.sentence());
        lines.push('\n');
    }
    let first = status
        .accesses
        .first()
        .map(|a| super::status::moment(a.accessed_at));
    let last = status
        .accesses
        .last()
        .map(|a| super::status::moment(a.accessed_at));
    let when = match (first, last) {
        (Some(f), Some(l)) if f != l => format!("between {f} and {l}"),
        (Some(f), _) => format!("on {f}"),
        _ => String::new(),
    };
    let body = format!(
        "Kia ora {name},\n\n\
         We are writing to tell you about a security incident at Tiaki, the patient portal \
         {practice} uses, and exactly what it meant for you.\n\n\
         WHAT HAPPENED\n\
         Incident {number}: {title}. Someone who should not have had access viewed \
         information in your health record {when}.\n\n\
         WHAT OF YOURS WAS ACCESSED\n\
         {lines}\n\
         Document titles are shown when you sign in; this email names only their type and \
         date.\n\n\
         WHAT WE HAVE DONE\n\
         We stopped the access, signed the accounts involved out everywhere and recorded \
         every access in a tamper-evident audit log, which is how we know exactly what was \
         seen. Your practice has the same list.\n\n\
         WHAT YOU CAN DO\n\
         - See the same details, with the documents' titles, on your Security status page: \
         {base_url}/patients/{patient}/security-status\n\
         - Be wary of calls, texts or emails that mention your health information, or ask \
         for money or your password. We will never ask for your password.\n\
         - Talk to {practice} if you have questions or would like support.\n\n\
         YOUR RIGHT TO COMPLAIN\n\
         You can complain to the Privacy Commissioner (www.privacy.org.nz, 0800 803 909) \
         about how your information was handled.\n\n\
         Ngā mihi,\nThe Tiaki team\n\n\
         Reference: incident {number}, patient {patient}\n",
        name = recipient.given_name,
        practice = recipient.practice_name,
        number = status.number,
        title = status.title,
        patient = recipient.patient,
    );
    Email {
        subject: format!(
            "Incident {}: information in your health record was accessed",
            status.number
        ),
        body,
    }
}

impl Tiaki {
    /// Renders and queues a notice for every patient the published scope reached.
    /// Patients queued before (a run that stopped) keep their notice.
    pub async fn notices_queue(
        &self,
        number: u64,
        progress: &mut (dyn FnMut(u64, u64) + Send),
        ctx: &RequestContext,
    ) -> Result<QueueReport, CoreError> {
        let incident = self.incident(number).await?;
        let version = incident.published_version.ok_or_else(|| {
            CoreError::invalid(
                "not_published",
                format!(
                    "Incident {number} has no published scope: run `tiaki incident publish` \
                     first, so notices say what the status page says."
                ),
            )
        })?;
        let total = self
            .store
            .incident_scopes(number)
            .await?
            .iter()
            .find(|s| s.version == version)
            .map_or(0, |s| s.patients);
        let base_url = self.config.mail.base_url();
        let mut after: Option<PatientId> = None;
        let (mut done, mut added) = (0_u64, 0_u64);
        loop {
            let page = self
                .store
                .incident_patients(number, version, after, PAGE)
                .await?;
            let Some(last) = page.last().copied() else {
                break;
            };
            let drafts = self
                .render_page(&incident, version, after, &page, &base_url)
                .await?;
            after = Some(last);
            added += self
                .store
                .notices_queue(number, version, &drafts, OffsetDateTime::now_utc())
                .await?;
            done += u64::try_from(page.len()).unwrap_or(0);
            progress(done, total);
        }
        let event = super::console_event("incident.notices.queue", Some(&Target::Platform), ctx)
            .with_reason(&format!("incident_{number}_v{version}"))
            .with_bytes(added);
        self.audit.record_event(&event).await?;
        Ok(QueueReport {
            version,
            patients: done,
            added,
        })
    }

    async fn render_page(
        &self,
        incident: &Incident,
        version: u64,
        after: Option<PatientId>,
        patients: &[PatientId],
        base_url: &str,
    ) -> Result<Vec<NoticeDraft>, CoreError> {
        let Some(&through) = patients.last() else {
            return Ok(Vec::new());
        };
        let accesses = self
            .store
            .incident_accesses_of(incident.number, version, after, through)
            .await?;
        let mut by_patient: HashMap<PatientId, Vec<IncidentAccess>> = HashMap::new();
        for a in accesses {
            by_patient.entry(a.patient).or_default().push(a);
        }
        let recipients = self.store.notice_recipients(patients).await?;
        Ok(recipients
            .iter()
            .map(|r| {
                let mine = by_patient.remove(&r.patient).unwrap_or_default();
                let email = render(r, &section(incident, &mine), base_url);
                NoticeDraft {
                    patient: r.patient,
                    practice: r.practice,
                    recipient: r.address.clone(),
                    subject: email.subject,
                    body: email.body,
                }
            })
            .collect())
    }

    /// Sends an incident's queued notices at `run.per_second` at most, as the only
    /// sending run (a second run waits for the first's lease to lapse). Resumable:
    /// stopped or killed, the next run carries on and nobody is sent two.
    pub async fn notices_send(
        &self,
        number: u64,
        run: NoticeRun,
        progress: &mut (dyn FnMut(u64, u64) + Send),
        ctx: &RequestContext,
    ) -> Result<SendReport, CoreError> {
        self.incident(number).await?;
        let per_second = run.per_second.clamp(1, 10_000);
        let me = Uuid::new_v4();
        let mut report = SendReport::default();
        let mut lease_waits = 0;
        while !self.lease(number, me).await? {
            lease_waits += 1;
            if lease_waits > 2 * LEASE.whole_seconds() {
                return Err(CoreError::invalid(
                    "sender_running",
                    format!("Another run is sending incident {number}'s notices."),
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut ticker = tokio::time::interval(Duration::from_secs(1) / per_second);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome = async {
            loop {
                let counts = self.store.notice_counts(number).await?;
                report.total = counts.total();
                report.finished = counts.sent + counts.no_address + counts.failed;
                progress(report.finished, report.total);
                let budget = run
                    .limit
                    .map(|l| l.saturating_sub(report.sent + report.already_delivered));
                if budget == Some(0) {
                    break;
                }
                let batch = budget.map_or(per_second, |b| {
                    per_second.min(u32::try_from(b).unwrap_or(u32::MAX))
                });
                let claimed = self.store.notices_claim(number, batch.clamp(1, 500)).await?;
                if claimed.is_empty() {
                    break;
                }
                for notice in claimed {
                    ticker.tick().await;
                    let Some(to) = notice.recipient.as_deref() else {
                        self.mark(number, notice.patient, NoticeState::NoAddress).await?;
                        continue;
                    };
                    let key = format!("incident-{number}-{}", notice.patient);
                    let email = Email {
                        subject: notice.subject.clone(),
                        body: notice.body.clone(),
                    };
                    match self.mailer.deliver_keyed(to, email, &key).await {
                        Ok(Delivery::Sent) => report.sent += 1,
                        Ok(Delivery::AlreadyDelivered) => report.already_delivered += 1,
                        Err(e) => {
                            tracing::warn!(incident = number, patient = %notice.patient, error = %e, "a notice could not be delivered");
                            let state = if notice.attempts >= ATTEMPTS {
                                report.failed += 1;
                                NoticeState::Failed
                            } else {
                                NoticeState::Queued
                            };
                            self.mark(number, notice.patient, state).await?;
                            continue;
                        }
                    }
                    self.mark(number, notice.patient, NoticeState::Sent).await?;
                }
                if !self.lease(number, me).await? {
                    return Err(CoreError::Unavailable(
                        "this run lost its sending lease; another run carries on".into(),
                    ));
                }
            }
            Ok::<(), CoreError>(())
        }
        .await;
        self.store.notices_release(number, me).await?;
        outcome?;
        let counts = self.store.notice_counts(number).await?;
        report.total = counts.total();
        report.finished = counts.sent + counts.no_address + counts.failed;
        progress(report.finished, report.total);
        let event = super::console_event("incident.notices.send", Some(&Target::Platform), ctx)
            .with_reason(&format!("incident_{number}"))
            .with_bytes(report.sent);
        self.audit.record_event(&event).await?;
        Ok(report)
    }

    async fn lease(&self, number: u64, me: Uuid) -> Result<bool, CoreError> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .store
            .notices_lease(number, me, now, now + LEASE)
            .await?)
    }

    async fn mark(
        &self,
        number: u64,
        patient: PatientId,
        state: NoticeState,
    ) -> Result<(), CoreError> {
        Ok(self
            .store
            .notice_mark(number, patient, state, OffsetDateTime::now_utc())
            .await?)
    }
}
