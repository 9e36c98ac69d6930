//! A fresh Tiaki with one practice, its clinician, and patients with 64 KiB documents;
//! the same plaintext files written under an nginx root; and the Tiaki server running
//! in this process on a loopback port.

use crate::{Backend, Result, SeedArgs, fail};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tiaki_audit::RequestContext;
use tiaki_core::documents::Upload;
use tiaki_core::{CoreConfig, Tiaki};
use tiaki_crypto::{Keyring, Vault};
use tiaki_domain::{
    Actor, ActorKind, DocumentId, Nhi, PatientId, PracticeId, SessionId, StaffRole,
};
use tiaki_store::{BlobStore, Patient, Practice, Store};
use tiaki_web::{AppState, WebConfig};
use time::{Date, Month, OffsetDateTime};
use tokio::sync::oneshot;

pub const USERNAME: &str = "clinician.bench";
/// PNG's 8-byte signature: enough for the upload's magic-byte check.
const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";
/// Uploads in flight while seeding.
const SEED_CONCURRENCY: usize = 8;

/// One seeded document: its id, the plaintext's path under the nginx root, its patient.
#[derive(Debug, Clone)]
pub struct SeededDoc {
    pub id: DocumentId,
    pub patient: PatientId,
    pub practice: PracticeId,
    pub plaintext: PathBuf,
}

/// Everything a benchmark needs. [`World::finish`] stops the server and drops the
/// PostgreSQL database; the temporary directory goes when the world is dropped.
pub struct World {
    pub backend: Backend,
    pub core: Tiaki,
    pub store: Arc<dyn Store>,
    pub clinician: Actor,
    pub docs: Vec<SeededDoc>,
    /// nginx serves `/d/<id>` from here.
    pub nginx_root: PathBuf,
    pub addr: SocketAddr,
    /// The same store served by a second Tiaki with the guard switched off, to measure
    /// what the guard costs in the same run.
    pub unguarded_addr: SocketAddr,
    pub dir: TempDir,
    pub seed_time: Duration,
    /// The clinician's password (random: the password policy refuses weak ones).
    pub password: SecretString,
    /// The clinician's one-time recovery codes: each signs in once, as a second factor.
    recovery_codes: Mutex<Vec<String>>,
    pg_url: Option<String>,
    shutdown: Vec<oneshot::Sender<()>>,
    servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("backend", &self.backend)
            .field("documents", &self.docs.len())
            .field("addr", &self.addr)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// The guard as configured, counting every read, but with no budget a benchmark's
/// one clinician reading thousands of patients' documents would cross: what is
/// measured is the guard's work, not a containment.
fn guarded_config() -> CoreConfig {
    let mut config = CoreConfig::default();
    let unlimited = tiaki_core::guard::Limit::NONE;
    for budget in [
        &mut config.guard.clinical_staff,
        &mut config.guard.address,
        &mut config.guard.practice,
    ] {
        budget.documents = unlimited;
        budget.bytes = unlimited;
        budget.patients = unlimited;
    }
    config.guard.baseline_ceiling = u64::MAX;
    config
}

impl World {
    pub async fn seed(backend: Backend, args: &SeedArgs) -> Result<Self> {
        if args.documents == 0 || args.per_patient == 0 || args.size < PNG_SIGNATURE.len() {
            return Err(fail(
                "--documents and --per-patient must be > 0, --size ≥ 8",
            ));
        }
        let dir = TempDir::with_prefix("tiaki-bench-")?;
        let (url, pg_url) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("tiaki.db").display()),
                None,
            ),
            Backend::Postgres | Backend::Both => {
                let url = tiaki_store::testing::fresh_postgres_url().await?;
                (url.clone(), Some(url))
            }
        };
        let store = tiaki_store::open_store(&url).await?;
        let blobs = BlobStore::local(&dir.path().join("blobs"))?;
        let vault = Vault::new(Keyring::generate()?);
        let core = Tiaki::new(
            store.clone(),
            blobs.clone(),
            vault.clone(),
            guarded_config(),
        );
        let mut unguarded_config = CoreConfig::default();
        unguarded_config.guard.enabled = false;
        let unguarded = Tiaki::new(store.clone(), blobs, vault, unguarded_config);
        let nginx_root = dir.path().join("nginx-root");
        std::fs::create_dir_all(nginx_root.join("d"))?;

        let started = Instant::now();
        let practice = PracticeId::new();
        store
            .practice_insert(&Practice {
                id: practice,
                name: "Bench Practice".to_owned(),
                region: "Wellington".to_owned(),
            })
            .await?;
        let password = SecretString::from(random_hex(16)?);
        let account = core
            .create_account(
                USERNAME,
                "Bench Clinician",
                &password,
                ActorKind::Staff {
                    practice,
                    role: StaffRole::Clinician,
                },
            )
            .await?;
        // Every account signs in with a second factor; the recovery codes serve here.
        let factors = core.provision_totp(account.id).await?;
        let recovery_codes = factors
            .recovery_codes
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        let clinician = Actor {
            account: account.id,
            session: SessionId::new(),
            kind: account.kind,
        };

        let patients = args.documents.div_ceil(args.per_patient);
        let mut patient_ids = Vec::with_capacity(patients);
        for (n, nhi) in distinct_nhis(patients)?.into_iter().enumerate() {
            let patient = Patient {
                id: PatientId::new(),
                practice,
                nhi,
                given_name: format!("Bench{n}"),
                family_name: "Patient".to_owned(),
                date_of_birth: Date::from_calendar_date(1980, Month::March, 3)?,
                email: None,
                created_at: OffsetDateTime::now_utc(),
            };
            core.create_patient(&patient).await?;
            patient_ids.push(patient.id);
        }

        let jobs = (0..args.documents).map(|n| {
            let patient = patient_ids
                .get(n / args.per_patient)
                .copied()
                .ok_or_else(|| fail("patient index out of range"));
            (n, patient)
        });
        let docs: Vec<SeededDoc> = futures::stream::iter(jobs)
            .map(|(n, patient)| {
                let core = &core;
                let clinician = &clinician;
                let root = &nginx_root;
                async move {
                    let patient = patient?;
                    seed_document(core, clinician, patient, n, args.size, root).await
                }
            })
            .buffer_unordered(SEED_CONCURRENCY)
            .try_collect()
            .await?;
        let seed_time = started.elapsed();

        let mut shutdown = Vec::new();
        let mut servers = Vec::new();
        let mut addrs = Vec::new();
        for app in [core.clone(), unguarded] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            addrs.push(listener.local_addr()?);
            let (stop_tx, stop) = oneshot::channel::<()>();
            let state = AppState::new(app, WebConfig::default());
            servers.push(tokio::spawn(tiaki_web::serve(listener, state, async {
                let _ = stop.await;
            })));
            shutdown.push(stop_tx);
        }
        let (addr, unguarded_addr) = match addrs.as_slice() {
            [a, b] => (*a, *b),
            _ => return Err(fail("servers did not start")),
        };

        Ok(Self {
            backend,
            core,
            store,
            clinician,
            docs,
            nginx_root,
            addr,
            unguarded_addr,
            dir,
            seed_time,
            password,
            recovery_codes: Mutex::new(recovery_codes),
            pg_url,
            shutdown,
            servers,
        })
    }

    /// A recovery code not used yet (each signs in once, as the second factor).
    pub fn recovery_code(&self) -> Result<SecretString> {
        self.recovery_codes
            .lock()
            .ok()
            .and_then(|mut codes| codes.pop())
            .map(SecretString::from)
            .ok_or_else(|| fail("the clinician's recovery codes are used up"))
    }

    /// Signs the clinician in through the JSON API (password and a recovery code) and
    /// returns the bearer token.
    pub async fn login(&self, client: &reqwest::Client) -> Result<String> {
        let body = serde_json::json!({
            "username": USERNAME,
            "password": self.password.expose_secret(),
            "recovery_code": self.recovery_code()?.expose_secret(),
        });
        let response = client
            .post(format!("http://{}/api/v1/sessions", self.addr))
            .json(&body)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(fail(format!("sign-in failed: {}", response.status())));
        }
        let body: serde_json::Value = response.json().await?;
        body.get("token")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| fail("sign-in answered without a token"))
    }

    /// Stops the servers and drops the PostgreSQL database, if one was made.
    pub async fn finish(mut self) -> Result<()> {
        for stop in self.shutdown.drain(..) {
            let _ = stop.send(());
        }
        for server in self.servers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
        if let Some(url) = self.pg_url.take() {
            drop(self.core);
            drop(self.store);
            tiaki_store::testing::drop_postgres_database(&url).await?;
        }
        Ok(())
    }
}

/// `count` distinct valid test-range NHI numbers.
fn distinct_nhis(count: usize) -> Result<Vec<Nhi>> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(count);
    for number in 0u32.. {
        if out.len() == count {
            break;
        }
        if number > 1_000_000 {
            return Err(fail("ran out of synthetic NHI numbers"));
        }
        if let Some(nhi) = Nhi::synthesize(*b"ZBM", number)
            && seen.insert(nhi.to_string())
        {
            out.push(nhi);
        }
    }
    Ok(out)
}

/// `bytes` random bytes as hex.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut raw = vec![0u8; bytes];
    getrandom::fill(&mut raw).map_err(|e| fail(format!("getrandom: {e}")))?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

/// Random bytes behind a PNG signature: `size` bytes in all.
pub fn png_like(size: usize) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; size];
    getrandom::fill(&mut bytes).map_err(|e| fail(format!("getrandom: {e}")))?;
    for (dst, src) in bytes.iter_mut().zip(PNG_SIGNATURE) {
        *dst = *src;
    }
    Ok(bytes)
}

async fn seed_document(
    core: &Tiaki,
    clinician: &Actor,
    patient: PatientId,
    n: usize,
    size: usize,
    nginx_root: &Path,
) -> Result<SeededDoc> {
    let bytes = Bytes::from(png_like(size)?);
    let upload = Upload {
        title: format!("Scan {n}"),
        kind: Some("lab_report".to_owned()),
        filename: "scan.png".to_owned(),
        declared_type: "image/png".to_owned(),
    };
    let body = bytes.clone();
    let source = futures::stream::once(async move { Ok(body) }).boxed();
    let meta = core
        .upload_document(
            clinician,
            patient,
            upload,
            source,
            &RequestContext::default(),
        )
        .await?;
    let plaintext = nginx_root.join("d").join(meta.id.to_string());
    tokio::fs::write(&plaintext, &bytes).await?;
    Ok(SeededDoc {
        id: meta.id,
        patient,
        practice: meta.practice,
        plaintext,
    })
}
