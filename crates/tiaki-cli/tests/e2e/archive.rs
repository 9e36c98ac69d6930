//! Retention and the cold archive, end to end with the real binary: after
//! `tiaki archive run`, nothing the online system holds — the database, the blob
//! directory, the keyring — opens an archived document; the server answers 410; the
//! offline private key brings it back byte for byte; bad input changes nothing; and
//! erasing a patient leaves none of their documents readable.

use super::api::Api;
use super::server::{ServerOptions, demo_copy, files_under, run_tiaki};
use futures::StreamExt;
use serde_json::Value;
use sqlx::Row;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tiaki_audit::{AuditLog, AuditSink, RequestContext};
use tiaki_crypto::{
    DocumentContext, KekVersion, Keyring, Vault, WrappedDataKey, WrappedPatientKey, open_stream,
};
use tiaki_domain::{
    AccountId, Action, Actor, ActorKind, DocumentId, PatientId, PracticeId, SessionId, Target,
    authorize,
};
use tiaki_store::{BlobStore, open_store};

/// Three years on, every discharge summary and referral letter is due (two years).
fn three_years_on() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{}-06-30", now.year() + 3)
}

struct Setup {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
    offline: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    demo_copy(&data);
    let offline = tmp.path().join("offline");
    let ran = run_tiaki(["archive", "keygen", "--out", offline.to_str().unwrap()]);
    assert!(ran.status.success(), "keygen: {}", ran.stderr);
    assert!(
        ran.stderr.contains("OFFLINE"),
        "keygen says loudly where the key belongs"
    );
    let public = ran.stdout.trim().to_owned();
    assert_eq!(public.len(), 64);
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(offline.join("tiaki-archive.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the private key is its owner's only");
    // Never overwritten: documents may already be sealed to it.
    let again = run_tiaki(["archive", "keygen", "--out", offline.to_str().unwrap()]);
    assert!(!again.status.success());
    let config = tmp.path().join("tiaki.toml");
    std::fs::write(
        &config,
        format!("[core.archive]\npublic_key = \"{public}\"\nbatch_size = 7\n"),
    )
    .unwrap();
    Setup {
        _tmp: tmp,
        data,
        config,
        offline,
    }
}

fn tiaki(s: &Setup, args: &[&str]) -> super::server::Ran {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend([
        "--data-dir".to_owned(),
        s.data.display().to_string(),
        "--config".to_owned(),
        s.config.display().to_string(),
    ]);
    run_tiaki(all)
}

/// Everything the online system holds that could be key material.
struct Online {
    vault: Vault,
    versions: Vec<KekVersion>,
    /// Every patient key row: (patient, wrapped).
    patient_keys: Vec<(PatientId, WrappedPatientKey)>,
    /// Every byte string in a key column: wrapped data keys and archived keys.
    key_blobs: Vec<Vec<u8>>,
    pool: sqlx::SqlitePool,
    audit: AuditLog,
    blobs: BlobStore,
}

async fn online(data: &Path) -> Online {
    let keyring = Keyring::load(&data.join("keyring.json")).unwrap();
    let versions = keyring.versions();
    let url = format!("sqlite://{}", data.join("tiaki.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mut patient_keys = Vec::new();
    for row in sqlx::query("SELECT patient_id, kek_version, wrapped FROM patient_keys")
        .fetch_all(&pool)
        .await
        .unwrap()
    {
        let id: uuid::Uuid = row.get(0);
        let version: i64 = row.get(1);
        patient_keys.push((
            PatientId::from_uuid(id),
            WrappedPatientKey {
                kek_version: KekVersion(u32::try_from(version).unwrap()),
                bytes: row.get(2),
            },
        ));
    }
    let mut key_blobs: Vec<Vec<u8>> = Vec::new();
    for sql in [
        "SELECT data_key FROM documents",
        "SELECT sealed_key FROM document_archive",
        "SELECT wrapped FROM patient_keys",
    ] {
        for row in sqlx::query(sql).fetch_all(&pool).await.unwrap() {
            key_blobs.push(row.get(0));
        }
    }
    let store = open_store(&url).await.unwrap();
    let sink: Arc<dyn AuditSink> = store;
    Online {
        vault: Vault::new(keyring),
        versions,
        patient_keys,
        key_blobs,
        pool,
        audit: AuditLog::new(sink),
        blobs: BlobStore::local(&data.join("blobs")).unwrap(),
    }
}

/// The document's row as the database has it: (patient, practice, state, blob key,
/// data key).
async fn row(o: &Online, document: &str) -> (PatientId, PracticeId, String, String, Vec<u8>) {
    let id: uuid::Uuid = document.parse().unwrap();
    let r = sqlx::query(
        "SELECT patient_id, practice_id, state, blob_key, data_key FROM documents WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&o.pool)
    .await
    .unwrap();
    (
        PatientId::from_uuid(r.get(0)),
        PracticeId::from_uuid(r.get(1)),
        r.get(2),
        r.get(3),
        r.get(4),
    )
}

/// Tries every patient key under every KEK version with every key-shaped byte string
/// in the database against `document`, and decrypts the blob with any that opens.
/// Returns the plaintexts found.
async fn everything_that_opens(o: &Online, document: &str) -> Vec<Vec<u8>> {
    let (patient, practice, _, blob_key, _) = row(o, document).await;
    let doc = DocumentId::from_uuid(document.parse().unwrap());
    let target = Target::Document {
        document: doc,
        patient,
        practice,
    };
    // A receipt as the vault demands one: a policy grant, recorded in the audit log.
    let actor = Actor {
        account: AccountId::new(),
        session: SessionId::new(),
        kind: ActorKind::Patient { patient, practice },
    };
    let grant = authorize(&actor, Action::ReadDocumentContent, target).unwrap();
    let receipt = o
        .audit
        .record(&grant, &RequestContext::default(), None)
        .await
        .unwrap();
    let ctx = DocumentContext {
        document: doc,
        patient,
        practice,
    };
    let mut found = Vec::new();
    for (_, wrapped) in &o.patient_keys {
        for version in &o.versions {
            let patient_key = WrappedPatientKey {
                kek_version: *version,
                bytes: wrapped.bytes.clone(),
            };
            for candidate in &o.key_blobs {
                let data_key = WrappedDataKey(candidate.clone());
                let Ok(opener) = o
                    .vault
                    .open_document(&receipt, &patient_key, &data_key, &ctx)
                else {
                    continue;
                };
                let Ok(ciphertext) = o.blobs.get_stream(&blob_key).await else {
                    continue;
                };
                let ciphertext = ciphertext.map(|p| p.map_err(|e| e.to_string()));
                let pieces: Vec<_> = open_stream(opener, ciphertext).collect().await;
                if pieces.iter().all(Result::is_ok) {
                    found.push(pieces.into_iter().flat_map(|p| p.unwrap()).collect());
                }
            }
        }
    }
    found
}

async fn audit_count(o: &Online) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
        .fetch_one(&o.pool)
        .await
        .unwrap()
}

async fn listed(api: &Api, patient: &str) -> Vec<Value> {
    api.get_json(&format!("/api/v1/patients/{patient}/documents"))
        .await
        .as_array()
        .unwrap()
        .clone()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter().find(|d| d["kind"] == kind).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_documents_are_unreadable_online_and_restore_byte_identical() {
    let s = setup();
    let server = ServerOptions::new(&s.data)
        .arg("--config")
        .arg(&s.config)
        .start();
    let logins = server.logins();
    let login = logins.iter().find(|l| l.role == "patient").unwrap();
    let patient = login.patient().to_owned();
    let api = Api::login(&server.base, &login.username, &login.password).await;
    let docs = listed(&api, &patient).await;
    assert!(docs.iter().all(|d| d["state"] == "online"));
    let letter = of_kind(&docs, "discharge_summary")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let lab = of_kind(&docs, "lab_report")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, served) = api.content(&letter).await.unwrap();
    assert_eq!(status, 200);
    assert!(served.starts_with(b"%PDF-"));
    // The plaintext as the keys open it (served copies may carry a per-access mark).
    let before = everything_that_opens(&online(&s.data).await, &letter).await;
    assert_eq!(before.len(), 1, "exactly one key opens it while online");
    let original = before[0].clone();

    // Nothing is due today; three years on, the hospital letters are.
    let today = tiaki(&s, &["archive", "run", "--dry-run"]);
    assert!(today.status.success(), "{}", today.stderr);
    assert!(
        today.stdout.contains("discharge_summary: 0 due"),
        "{}",
        today.stdout
    );
    let as_of = three_years_on();
    let preview = tiaki(&s, &["archive", "run", "--dry-run", "--as-of", &as_of]);
    assert!(
        !preview.stdout.contains("patient_upload"),
        "{}",
        preview.stdout
    );
    let due: u64 = preview
        .stdout
        .lines()
        .find(|l| l.ends_with("documents due; nothing archived (dry run)."))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(due > 7, "several batches are due: {}", preview.stdout);
    let bad_date = tiaki(&s, &["archive", "run", "--as-of", "next tuesday"]);
    assert!(!bad_date.status.success());
    assert!(bad_date.stderr.contains("--as-of"), "{}", bad_date.stderr);

    let ran = tiaki(&s, &["archive", "run", "--as-of", &as_of]);
    assert!(ran.status.success(), "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains(&format!("Archived {due} documents")),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stderr.contains("archiving"),
        "a progress bar: {}",
        ran.stderr
    );
    // Resumable and idempotent: a second run finds nothing left.
    let again = tiaki(&s, &["archive", "run", "--as-of", &as_of]);
    assert!(
        again.stdout.contains("Archived 0 documents"),
        "{}",
        again.stdout
    );

    // The server says archived, and never tries to decrypt.
    let (status, body) = api.content(&letter).await.unwrap();
    assert_eq!(status, 410);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "archived");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Ask your practice")
    );
    let docs = listed(&api, &patient).await;
    assert_eq!(of_kind(&docs, "discharge_summary")["state"], "archived");
    assert_eq!(of_kind(&docs, "referral_letter")["state"], "archived");
    assert_eq!(of_kind(&docs, "lab_report")["state"], "online");
    assert_eq!(api.content(&lab).await.unwrap().0, 200);

    // With everything the online system holds, nothing opens the archived letter —
    // while the same search opens the online lab report, so the search itself works.
    let o = online(&s.data).await;
    let (_, _, state, _, data_key) = row(&o, &letter).await;
    assert_eq!(state, "archived");
    assert!(data_key.is_empty(), "the row keeps no wrapped key");
    assert!(everything_that_opens(&o, &letter).await.is_empty());
    let opened = everything_that_opens(&o, &lab).await;
    assert_eq!(opened.len(), 1);
    assert!(opened[0].starts_with(b"%PDF-"));

    // The patient asks for it back: recorded, and shown.
    let asked = api
        .http
        .post(format!(
            "{}/api/v1/documents/{letter}/retrieval-request",
            server.base
        ))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 202);
    let asked: Value = asked.json().await.unwrap();
    assert_eq!(asked["status"], "open");
    let meta = api.get_json(&format!("/api/v1/documents/{letter}")).await;
    assert_eq!(meta["state"], "archived");
    assert!(meta["retrieval_requested_at"].is_string());
    let requests = tiaki(&s, &["archive", "requests"]);
    assert!(requests.stdout.contains(&letter), "{}", requests.stdout);

    // Bad input changes nothing: an unknown document, a wrong key, a file that is no key.
    let key = s.offline.join("tiaki-archive.key");
    let other = s.offline.with_file_name("other-offline");
    assert!(
        run_tiaki(["archive", "keygen", "--out", other.to_str().unwrap()])
            .status
            .success()
    );
    let junk = s.offline.with_file_name("junk.key");
    std::fs::write(&junk, "not a key\n").unwrap();
    let events = audit_count(&o).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    for (document, key_file, says) in [
        (unknown.as_str(), key.as_path(), "no document"),
        (
            letter.as_str(),
            other.join("tiaki-archive.key").as_path(),
            "not the archive key",
        ),
        (
            letter.as_str(),
            junk.as_path(),
            "not an archive private key",
        ),
        (lab.as_str(), key.as_path(), "online already"),
    ] {
        let ran = tiaki(
            &s,
            &[
                "archive",
                "restore",
                "--document",
                document,
                "--key",
                key_file.to_str().unwrap(),
            ],
        );
        assert!(!ran.status.success(), "{document}: {}", ran.stdout);
        assert!(ran.stderr.contains(says), "{says}: {}", ran.stderr);
    }
    assert_eq!(
        audit_count(&o).await,
        events,
        "refused restores record nothing"
    );
    assert_eq!(row(&o, &letter).await.2, "archived");
    assert_eq!(api.content(&letter).await.unwrap().0, 410);

    // The offline key brings it back, byte for byte.
    let restored = tiaki(
        &s,
        &[
            "archive",
            "restore",
            "--document",
            &letter,
            "--key",
            key.to_str().unwrap(),
        ],
    );
    assert!(restored.status.success(), "{}", restored.stderr);
    let (status, back) = api.content(&letter).await.unwrap();
    assert_eq!(status, 200);
    assert!(back.starts_with(b"%PDF-"));
    let after = everything_that_opens(&online(&s.data).await, &letter).await;
    assert_eq!(after, vec![original], "byte-identical");
    let meta = api.get_json(&format!("/api/v1/documents/{letter}")).await;
    assert_eq!(meta["state"], "online");
    assert!(meta["retrieval_requested_at"].is_null());
    assert!(!tiaki(&s, &["archive", "requests"]).stdout.contains(&letter));
    let trail: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE document_id = $1 ORDER BY seq")
            .bind(letter.parse::<uuid::Uuid>().unwrap())
            .fetch_all(&o.pool)
            .await
            .unwrap();
    for action in [
        "document.archive",
        "document.read_offline",
        "document.retrieval_request",
        "document.restore",
    ] {
        assert!(trail.iter().any(|a| a == action), "{action} in {trail:?}");
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shredding_a_patient_leaves_nothing_of_theirs_readable() {
    let s = setup();
    let server = ServerOptions::new(&s.data)
        .arg("--config")
        .arg(&s.config)
        .start();
    let logins = server.logins();
    let mut patients = logins.iter().filter(|l| l.role == "patient");
    let (gone, kept) = (patients.next().unwrap(), patients.next().unwrap());
    let api = Api::login(&server.base, &gone.username, &gone.password).await;
    let other = Api::login(&server.base, &kept.username, &kept.password).await;
    // One of their letters is archived first: erasure reaches the archive too.
    let ran = tiaki(&s, &["archive", "run", "--as-of", &three_years_on()]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let docs = listed(&api, gone.patient()).await;
    let ids: Vec<String> = docs
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    let online_doc = of_kind(&docs, "lab_report")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(api.content(&online_doc).await.unwrap().0, 200);
    let blob_files = || {
        files_under(&s.data.join("blobs"))
            .iter()
            .filter(|p| ids.iter().any(|id| p.ends_with(id)))
            .count()
    };
    assert_eq!(blob_files(), ids.len());

    // No reason, an unknown patient: refused, nothing changes.
    let no_reason = tiaki(&s, &["archive", "shred", "--patient", gone.patient()]);
    assert!(!no_reason.status.success());
    assert!(no_reason.stderr.contains("reason"), "{}", no_reason.stderr);
    let blank = tiaki(
        &s,
        &[
            "archive",
            "shred",
            "--patient",
            gone.patient(),
            "--reason",
            "  ",
        ],
    );
    assert!(!blank.status.success());
    let nobody = uuid::Uuid::now_v7().to_string();
    let unknown = tiaki(
        &s,
        &[
            "archive",
            "shred",
            "--patient",
            &nobody,
            "--reason",
            "asked",
        ],
    );
    assert!(!unknown.status.success());
    assert!(unknown.stderr.contains("no patient"), "{}", unknown.stderr);
    assert_eq!(api.content(&online_doc).await.unwrap().0, 200);

    let shred = tiaki(
        &s,
        &[
            "archive",
            "shred",
            "--patient",
            gone.patient(),
            "--reason",
            "Privacy Act request 2026-114",
        ],
    );
    assert!(shred.status.success(), "{}", shred.stderr);
    assert!(
        shred
            .stdout
            .contains(&format!("{} documents can no longer be opened", ids.len())),
        "{}",
        shred.stdout
    );
    // Every document of theirs, online or archived, answers erased; the key is gone
    // from the database and nothing there opens any of them; the ciphertext is deleted.
    for id in &ids {
        let (status, body) = api.content(id).await.unwrap();
        assert_eq!(status, 410, "{id}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "erased");
    }
    assert!(
        listed(&api, gone.patient())
            .await
            .iter()
            .all(|d| d["state"] == "erased")
    );
    // Nothing more can be added to an erased record: a clear 410, and nothing stored.
    let (status, body) = api
        .upload(
            gone.patient(),
            super::api::NewFile {
                title: "After erasure",
                kind: None,
                filename: "note.txt",
                mime: "text/plain",
                bytes: b"written after the record was erased".to_vec(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (410, Some("erased")),
        "{body}"
    );
    assert_eq!(listed(&api, gone.patient()).await.len(), ids.len());
    let o = online(&s.data).await;
    let patient: PatientId = gone.patient().parse().unwrap();
    assert!(o.patient_keys.iter().all(|(p, _)| *p != patient));
    assert_eq!(blob_files(), 0);
    for id in &ids {
        assert!(everything_that_opens(&o, id).await.is_empty(), "{id}");
    }
    // Someone else's records are untouched.
    let theirs = listed(&other, kept.patient()).await;
    let lab = of_kind(&theirs, "lab_report")["id"].as_str().unwrap();
    assert_eq!(other.content(lab).await.unwrap().0, 200);
    // Once only.
    let twice = tiaki(
        &s,
        &[
            "archive",
            "shred",
            "--patient",
            gone.patient(),
            "--reason",
            "again",
        ],
    );
    assert!(!twice.status.success());
    assert!(twice.stderr.contains("erased"), "{}", twice.stderr);
    drop(server);
}
