//! `incidents`: breach response at scale (issue 6's benchmark). Seeds a store with
//! N patients, one document each, and an audit log in which one stolen account read
//! every one of those documents among as much ordinary traffic; then times, through the
//! same use cases as `tiaki incident …`:
//!
//! - scope: a fresh signed checkpoint, the leaves checked against it, and every
//!   matching read frozen with what it reached (target: under 60 s for 100,000
//!   patients on PostgreSQL);
//! - notices: every affected patient's notice rendered from the published scope and
//!   queued (target: 100,000 in under 60 s).

use crate::{Backend, IncidentArgs, Result, fail};
use futures::StreamExt as _;
use std::sync::Arc;
use std::time::Instant;
use tiaki_audit::{AuditEvent, Outcome, RequestContext};
use tiaki_core::incidents::{Criteria, ScopeModule};
use tiaki_core::{CoreConfig, Tiaki};
use tiaki_crypto::{Keyring, Vault};
use tiaki_domain::{
    AccessId, AccountId, ContentType, DocumentId, DocumentKind, DocumentMeta, Filename, Nhi,
    PatientId, PracticeId, SessionId, Title,
};
use tiaki_store::{
    BlobStore, DocumentRecord, DocumentState, Patient, Practice, Store, WrappedDataKey,
};
use time::{Date, Month, OffsetDateTime};

/// Practices the patients are spread over.
const PRACTICES: usize = 20;
const REGIONS: [&str; 4] = ["Auckland", "Waikato", "Wellington", "Canterbury"];
/// Concurrent writers while seeding.
const WRITERS: usize = 16;

pub async fn run(backend: Backend, args: &IncidentArgs) -> Result<()> {
    let dir = tempfile::TempDir::with_prefix("tiaki-bench-incidents-")?;
    let pg_url = match backend {
        Backend::Postgres | Backend::Both => {
            Some(tiaki_store::testing::fresh_postgres_url().await?)
        }
        Backend::Sqlite => None,
    };
    let url = pg_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("tiaki.db").display()));
    let store = tiaki_store::open_store(&url).await?;
    let vault = Vault::new(Keyring::generate()?);
    let blobs = BlobStore::local(&dir.path().join("blobs"))?;
    let core = Tiaki::new(store.clone(), blobs, vault.clone(), CoreConfig::default());

    let seeded = Instant::now();
    let attacker = seed(&store, &vault, args.patients).await?;
    println!(
        "\n== incidents on {}: {} patients at {PRACTICES} practices, {} audit events \
         (seeded in {:.1} s)",
        backend.name(),
        args.patients,
        store.log_size().await?,
        seeded.elapsed().as_secs_f64()
    );

    let ctx = RequestContext::default();
    let incident = core.incident_open("Benchmark", "bench", &ctx).await?;
    let criteria = Criteria {
        actors: vec![attacker.to_string()],
        sessions: vec![],
        addresses: vec![],
        from: None,
        to: None,
        module: ScopeModule::Documents,
    };
    let started = Instant::now();
    let scope = core
        .incident_scope(incident.number, &criteria, &ctx)
        .await?;
    let scoped = started.elapsed();
    if scope.patients != args.patients as u64 {
        return Err(fail(format!(
            "the scope found {} patients, expected {}",
            scope.patients, args.patients
        )));
    }
    println!(
        "  scope: {} patients, {} accesses in {:.2} s (tree of {} events)",
        scope.patients,
        scope.accesses,
        scoped.as_secs_f64(),
        scope.tree_size
    );
    core.incident_publish(incident.number, None, &ctx).await?;
    let started = Instant::now();
    let mut ignore = |_: u64, _: u64| {};
    let queued = core
        .notices_queue(incident.number, &mut ignore, &ctx)
        .await?;
    let rendered = started.elapsed();
    if queued.added != args.patients as u64 {
        return Err(fail(format!("queued {} notices", queued.added)));
    }
    #[allow(clippy::cast_precision_loss)]
    let rate = queued.added as f64 / rendered.as_secs_f64().max(1e-9);
    println!(
        "  notices: {} rendered and queued in {:.2} s = {rate:.0}/s",
        queued.added,
        rendered.as_secs_f64()
    );
    drop(core);
    drop(store);
    if let Some(url) = pg_url {
        tiaki_store::testing::drop_postgres_database(&url).await?;
    }
    Ok(())
}

/// Seeds patients, a document each, and the audit log; returns the stolen account.
async fn seed(store: &Arc<dyn Store>, vault: &Vault, patients: usize) -> Result<AccountId> {
    let mut practices = Vec::new();
    for n in 0..PRACTICES {
        let p = Practice {
            id: PracticeId::new(),
            name: format!("Bench Practice {n}"),
            region: REGIONS
                .get(n % REGIONS.len())
                .copied()
                .unwrap_or_default()
                .to_owned(),
        };
        store.practice_insert(&p).await?;
        practices.push(p.id);
    }
    let born = Date::from_calendar_date(1980, Month::March, 3)?;
    let nhis = nhis(patients)?;
    let attacker = AccountId::new();
    let session = SessionId::new();
    let jobs = nhis.into_iter().enumerate().map(|(n, nhi)| {
        let store = store.clone();
        let vault = vault.clone();
        let practice = practices.get(n % PRACTICES).copied();
        async move {
            let practice = practice.ok_or_else(|| fail("no practice"))?;
            let patient = Patient {
                id: PatientId::new(),
                practice,
                nhi,
                given_name: format!("Bench{n}"),
                family_name: "Patient".to_owned(),
                date_of_birth: born,
                email: Some(format!("bench{n}@example.nz")),
                created_at: OffsetDateTime::now_utc(),
            };
            let key = vault.new_patient_key(patient.id, practice)?;
            store.patient_insert(&patient, &key).await?;
            let document = DocumentId::new();
            let record = DocumentRecord {
                meta: DocumentMeta {
                    id: document,
                    patient: patient.id,
                    practice,
                    kind: DocumentKind::DischargeSummary,
                    title: Title::parse("Discharge summary").map_err(|e| fail(e.to_string()))?,
                    filename: Filename::sanitize("discharge.pdf"),
                    content_type: ContentType::Pdf,
                    size_bytes: 1000,
                    created_at: OffsetDateTime::now_utc(),
                    uploaded_by: AccountId::new(),
                },
                blob_key: format!("bench/{document}"),
                data_key: WrappedDataKey(vec![0; 60]),
                state: DocumentState::Online,
            };
            let upload = event(
                "document.upload",
                AccountId::new(),
                SessionId::new(),
                &patient,
                document,
            );
            store.document_insert(&record, &upload).await?;
            Ok::<_, crate::Error>((patient, document))
        }
    });
    let seeded: Vec<Result<(Patient, DocumentId)>> = futures::stream::iter(jobs)
        .buffer_unordered(WRITERS)
        .collect()
        .await;
    let seeded: Vec<(Patient, DocumentId)> = seeded.into_iter().collect::<Result<_>>()?;
    // The stolen account reads every document; as much ordinary traffic around it.
    let colleague = AccountId::new();
    let mut batch = Vec::with_capacity(1000);
    for (patient, document) in &seeded {
        batch.push(event(
            "document.read",
            attacker,
            session,
            patient,
            *document,
        ));
        batch.push(event(
            "document.read",
            colleague,
            SessionId::new(),
            patient,
            *document,
        ));
        if batch.len() >= 1000 {
            store.append(&batch).await?;
            batch.clear();
        }
    }
    store.append(&batch).await?;
    Ok(attacker)
}

fn event(
    action: &str,
    actor: AccountId,
    session: SessionId,
    patient: &Patient,
    document: DocumentId,
) -> AuditEvent {
    AuditEvent {
        id: AccessId::new(),
        at: OffsetDateTime::now_utc(),
        actor_account: Some(actor),
        actor_role: "clinician".to_owned(),
        actor_practice: Some(patient.practice),
        session: Some(session),
        action: action.to_owned(),
        outcome: Outcome::Allowed,
        patient: Some(patient.id),
        practice: Some(patient.practice),
        document: Some(document),
        address: None,
        purpose: None,
        reason: None,
        bytes: Some(1000),
    }
}

/// Distinct synthetic (test-range `Z…`) NHI numbers.
fn nhis(count: usize) -> Result<Vec<Nhi>> {
    let letters: Vec<u8> = (b'A'..=b'Z').filter(|c| *c != b'I' && *c != b'O').collect();
    let mut out = Vec::with_capacity(count);
    for &second in &letters {
        for &third in &letters {
            // synthesize() is distinct for 2,400 numbers per prefix.
            for number in 0..2_400u32 {
                if out.len() == count {
                    return Ok(out);
                }
                if let Some(nhi) = Nhi::synthesize([b'Z', second, third], number) {
                    out.push(nhi);
                }
            }
        }
    }
    Err(fail("ran out of synthetic NHI numbers"))
}
