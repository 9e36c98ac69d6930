//! Crash safety (DESIGN.md invariant 8): uploads run concurrently while the server is
//! SIGKILLed at random moments and restarted on the same data, round after round.
//! Afterwards every acknowledged upload reads back byte for byte (under the reader's
//! mark), every listed document's content is there in full, and the sweep leaves
//! exactly one ciphertext blob per document.

use super::api::{Api, NewFile};
use super::files::{self, Rng};
use super::server::{DemoLogin, Logins as _, ServerOptions, demo_copy, files_under, run_tiaki};
use super::uploads::read_back;
use futures::StreamExt as _;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upload tasks running at once.
const TASKS: usize = 4;
/// Titles of this test's uploads start with this.
const TITLE_PREFIX: &str = "crash-test";

/// An upload the server acknowledged with 201.
#[derive(Debug, Clone)]
struct Acked {
    id: String,
    patient: usize,
    sha: String,
    len: u64,
}

#[derive(Debug, Default)]
struct Record {
    /// SHA-256 of everything ever sent (acknowledged or not) -> length.
    attempted: HashMap<String, u64>,
    acked: Vec<Acked>,
    /// Anything but 201 or a dropped connection while the server was meant to be up.
    unexpected: Vec<String>,
}

/// The server under test, with the guard's document budgets out of the way: this test
/// is about durability, and its few uploaders read back hundreds of documents from
/// one address in seconds, which is exactly what the guard exists to stop.
fn unbudgeted(data: &std::path::Path) -> ServerOptions {
    let config = data.join("crash-test.toml");
    let unlimited = "documents = { soft = 1000000000, hard = 2000000000 }\n\
                     bytes = { soft = 1000000000000000, hard = 2000000000000000 }\n\
                     patients = { soft = 1000000000, hard = 2000000000 }\n";
    std::fs::write(
        &config,
        format!(
            "[core.guard.patient]\n{unlimited}probes = 3\n\n[core.guard.address]\n{unlimited}probes = 100\n"
        ),
    )
    .unwrap();
    let mut options = ServerOptions::new(data);
    options.args.push("--config".into());
    options.args.push(config.into_os_string());
    options
}

fn rounds() -> usize {
    std::env::var("TIAKI_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
}

/// Sizes: small, just past one 64 KiB chunk, several chunks, and past a megabyte.
fn random_file(rng: &mut Rng, serial: u64) -> (String, Vec<u8>, &'static str, String) {
    let size = match rng.range(0, 10) {
        0..=3 => rng.range(1024, 8 * 1024),
        4..=5 => 64 * 1024 + rng.range(1, 4096),
        6..=8 => 300 * 1024 + rng.range(0, 20 * 1024),
        _ => 1200 * 1024 + rng.range(0, 100 * 1024),
    };
    let size = usize::try_from(size).unwrap();
    let title = format!("{TITLE_PREFIX} {serial} {}", files::nonce(rng));
    if rng.range(0, 2) == 0 {
        (
            title,
            files::text(size, rng),
            "text/plain",
            format!("note-{serial}.txt"),
        )
    } else {
        (
            title,
            files::png_of_size(size, rng),
            "image/png",
            format!("photo-{serial}.png"),
        )
    }
}

/// One slow upload per round, still streaming when the kill comes: the crash then
/// always lands while ciphertext is being written, not only by luck.
async fn trickle(
    mut rng: Rng,
    apis: Arc<Vec<Api>>,
    uploaders: Vec<DemoLogin>,
    record: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
    round: usize,
) {
    const PIECE: usize = 16 * 1024;
    const PIECES: usize = 64; // 1 MiB over about 6 s, longer than any round
    let bytes = files::text(PIECE * PIECES, &mut rng);
    let sha = files::sha256_hex(&bytes);
    record
        .lock()
        .unwrap()
        .attempted
        .insert(sha.clone(), bytes.len() as u64);
    let pieces: Vec<bytes::Bytes> = bytes
        .chunks(PIECE)
        .map(bytes::Bytes::copy_from_slice)
        .collect();
    let body =
        futures::stream::iter(pieces.into_iter().enumerate()).then(|(i, piece)| async move {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok::<_, std::io::Error>(piece)
        });
    let part = reqwest::multipart::Part::stream_with_length(
        reqwest::Body::wrap_stream(body),
        bytes.len() as u64,
    )
    .file_name("slow.txt")
    .mime_str("text/plain")
    .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("title", format!("{TITLE_PREFIX} slow {round}"))
        .part("file", part);
    let who = usize::try_from(rng.range(0, apis.len() as u64)).unwrap();
    let answer = apis[who].upload_form(uploaders[who].patient(), form).await;
    let mut record = record.lock().unwrap();
    match answer {
        Ok((201, body)) => record.acked.push(Acked {
            id: body["id"].as_str().unwrap().to_owned(),
            patient: who,
            sha,
            len: bytes.len() as u64,
        }),
        Ok((status, body)) => record
            .unexpected
            .push(format!("slow upload: {status}: {body}")),
        Err(e) if !stop.load(Ordering::SeqCst) => {
            record
                .unexpected
                .push(format!("slow upload failed while the server was up: {e}"));
        }
        Err(_) => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_uploads_survive_sigkill_and_orphans_are_swept() {
    let started = Instant::now();
    let rounds = rounds();
    let mut rng = Rng::from_env("TIAKI_CRASH_SEED");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo_copy(&data);
    let logins = DemoLogin::read(&data);
    let all_patients: Vec<DemoLogin> = logins.patients().into_iter().cloned().collect();
    // Six uploaders across the three practices.
    let uploaders: Vec<DemoLogin> = all_patients.iter().step_by(10).cloned().collect();
    let record = Arc::new(Mutex::new(Record::default()));
    let mut serial = 0u64;

    // Signed in once: sessions live in the database, so the tokens outlast every crash
    // (the port changes with each start, the token does not).
    let mut tokens: Vec<String> = Vec::new();

    for round in 0..rounds {
        let mut server = unbudgeted(&data).start();
        if tokens.is_empty() {
            for p in &uploaders {
                tokens.push(
                    Api::login(&server.base, &p.username, &p.password)
                        .await
                        .token,
                );
            }
        }
        let http = super::api::client();
        let apis: Vec<Api> = tokens
            .iter()
            .map(|token| Api {
                http: http.clone(),
                base: server.base.clone(),
                token: token.clone(),
            })
            .collect();
        let apis = Arc::new(apis);
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let mut task_rng = Rng::new(rng.next_u64());
            let apis = apis.clone();
            let stop = stop.clone();
            let record = record.clone();
            let uploaders = uploaders.clone();
            let first_serial = serial;
            serial += 1_000_000;
            tasks.push(tokio::spawn(async move {
                let mut serial = first_serial;
                while !stop.load(Ordering::SeqCst) {
                    serial += 1;
                    let who = usize::try_from(task_rng.range(0, apis.len() as u64)).unwrap();
                    let (title, bytes, mime, filename) = random_file(&mut task_rng, serial);
                    let sha = files::sha256_hex(&bytes);
                    let len = bytes.len() as u64;
                    record.lock().unwrap().attempted.insert(sha.clone(), len);
                    let file = NewFile {
                        title: &title,
                        kind: None,
                        filename: &filename,
                        mime,
                        bytes,
                    };
                    let answer = apis[who].upload(uploaders[who].patient(), file).await;
                    let mut record = record.lock().unwrap();
                    match answer {
                        Ok((201, body)) => record.acked.push(Acked {
                            id: body["id"].as_str().unwrap().to_owned(),
                            patient: who,
                            sha,
                            len,
                        }),
                        Ok((status, body)) => {
                            record.unexpected.push(format!("{status}: {body}"));
                        }
                        Err(e) => {
                            if !stop.load(Ordering::SeqCst) {
                                record
                                    .unexpected
                                    .push(format!("upload failed while the server was up: {e}"));
                            }
                            break;
                        }
                    }
                }
            }));
        }
        tasks.push(tokio::spawn(trickle(
            Rng::new(rng.next_u64()),
            apis.clone(),
            uploaders.clone(),
            record.clone(),
            stop.clone(),
            round,
        )));
        let kill_after = Duration::from_millis(rng.range(300, 2500));
        tokio::time::sleep(kill_after).await;
        stop.store(true, Ordering::SeqCst);
        assert!(
            server.is_running(),
            "the server died by itself in round {round}:\n{}",
            server.stderr()
        );
        server.kill();
        for task in tasks {
            task.await.unwrap();
        }
        let record = record.lock().unwrap();
        println!(
            "round {round}: killed after {kill_after:?}; {} acknowledged, {} attempted so far",
            record.acked.len(),
            record.attempted.len()
        );
    }

    let record = Arc::try_unwrap(record).unwrap().into_inner().unwrap();
    assert!(
        record.unexpected.is_empty(),
        "uploads failed while the server was up: {:#?}",
        record.unexpected
    );
    assert!(
        !record.acked.is_empty(),
        "no upload was acknowledged in {rounds} rounds"
    );

    let mut server = unbudgeted(&data).start();
    let mut apis = Vec::new();
    for p in &all_patients {
        let api = match uploaders.iter().position(|u| u.username == p.username) {
            Some(i) => Api {
                http: super::api::client(),
                base: server.base.clone(),
                token: tokens[i].clone(),
            },
            None => Api::login(&server.base, &p.username, &p.password).await,
        };
        apis.push(api);
    }

    // Every acknowledged upload is there, byte for byte.
    for acked in &record.acked {
        let uploader = all_patients
            .iter()
            .position(|p| p.username == uploaders[acked.patient].username)
            .unwrap();
        let back = read_back(&apis[uploader], &acked.id).await;
        assert_eq!(
            back.status, 200,
            "acknowledged document {} is gone",
            acked.id
        );
        // The copy is served with the reader's mark; taken off, it must leave exactly
        // what was sent.
        let candidates = back.originals(&acked.id);
        assert!(
            candidates
                .iter()
                .any(|o| o.len() as u64 == acked.len && files::sha256_hex(o) == acked.sha),
            "document {} changed: {} bytes served ({}), candidate originals of {:?} bytes, \
             {} sent",
            acked.id,
            back.bytes.len(),
            back.mark,
            candidates.iter().map(Vec::len).collect::<Vec<_>>(),
            acked.len
        );
    }

    // Every listed document (demo or ours, acknowledged or cut off before the answer)
    // has its whole content; none of ours is anything but what was sent.
    let mut listed = BTreeSet::new();
    let mut ours = 0;
    for (p, api) in all_patients.iter().zip(&apis) {
        for doc in api.documents(p.patient()).await {
            assert_eq!(
                doc.patient_id,
                p.patient(),
                "listed under the wrong patient"
            );
            let back = read_back(api, &doc.id).await;
            assert_eq!(
                back.status, 200,
                "document {} is listed but its content does not read",
                doc.id
            );
            let candidates = back.originals(&doc.id);
            let original = candidates
                .iter()
                .find(|o| o.len() as u64 == doc.size_bytes)
                .unwrap_or_else(|| {
                    panic!(
                        "document {} is cut short: {} bytes served ({}), candidate originals \
                         of {:?} bytes, {} stored",
                        doc.id,
                        back.bytes.len(),
                        back.mark,
                        candidates.iter().map(Vec::len).collect::<Vec<_>>(),
                        doc.size_bytes
                    )
                });
            if doc.title.starts_with(TITLE_PREFIX) {
                ours += 1;
                let sha = files::sha256_hex(original);
                assert!(
                    record.attempted.contains_key(&sha),
                    "document {} holds bytes nobody sent",
                    doc.id
                );
            }
            listed.insert(doc.id);
        }
    }
    // The demo's decoy documents belong to no login: they are in the counts and the
    // blob store like any other document.
    let canaries = run_tiaki([
        "guard".into(),
        "canaries".into(),
        "--data-dir".into(),
        data.clone().into_os_string(),
    ]);
    assert!(
        canaries.status.success(),
        "guard canaries: {}",
        canaries.stderr
    );
    for line in canaries.stdout.lines() {
        let canary: serde_json::Value = serde_json::from_str(line).unwrap();
        if canary["kind"] == "document" {
            listed.insert(canary["id"].as_str().unwrap().to_owned());
        }
    }
    let operator = logins.by_username("operator");
    let operator = Api::login(&server.base, &operator.username, &operator.password).await;
    let counted: u64 = operator
        .get_json("/api/v1/platform/practices")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["documents"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, listed.len() as u64, "operator count vs listings");
    server.kill();

    // With the server stopped, the sweep leaves exactly one blob per document.
    let blobs = data.join("blobs");
    let before = files_under(&blobs);
    let swept = run_tiaki([
        "sweep".into(),
        "--data-dir".into(),
        data.clone().into_os_string(),
        "--grace-minutes".into(),
        "0".into(),
    ]);
    assert!(swept.status.success(), "sweep failed: {}", swept.stderr);
    let after = files_under(&blobs);
    let names: BTreeSet<String> = after
        .iter()
        .map(|f| f.strip_prefix(&blobs).unwrap().display().to_string())
        .collect();
    let expected: BTreeSet<String> = listed.iter().map(|id| format!("documents/{id}")).collect();
    let stray: Vec<&String> = names.difference(&expected).collect();
    let missing: Vec<&String> = expected.difference(&names).collect();
    println!(
        "{rounds} rounds: {} uploads attempted, {} acknowledged, {ours} of ours listed; \
         {} documents; blob files {} before the sweep, {} after ({}); took {:?}",
        record.attempted.len(),
        record.acked.len(),
        listed.len(),
        before.len(),
        after.len(),
        swept.stdout.trim(),
        started.elapsed()
    );
    assert!(
        missing.is_empty(),
        "documents without ciphertext: {missing:?}"
    );
    assert!(
        stray.is_empty(),
        "files left under blobs/ after the sweep that belong to no document: {stray:?}"
    );
    assert_eq!(after.len(), listed.len());
}
