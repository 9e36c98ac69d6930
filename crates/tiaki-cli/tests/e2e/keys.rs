//! Online key rotation (`tiaki keys rotate`) against the real server and the real
//! binary: documents keep reading — not one failed read — while every patient key and
//! TOTP seed moves to a new KEK version under a running server; afterwards every
//! document and every authenticator still works and the keyring holds only the new
//! version. And a rotation SIGKILLed midway carries on when run again, losing nothing.

use super::api::{Api, NewFile, client};
use super::server::{DemoLogin, Logins as _, ServerOptions, TIAKI, demo_copy, run_tiaki};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent readers during the rotation.
const READERS: usize = 4;

/// The server with the guard's budgets out of the way: this test reads the same few
/// documents hundreds of times from one address, which the guard exists to stop.
fn unbudgeted(data: &Path) -> ServerOptions {
    let config = data.with_file_name(format!(
        "{}-keys.toml",
        data.file_name().unwrap().to_string_lossy()
    ));
    let unlimited = "documents = { soft = 1000000000, hard = 2000000000 }\n\
                     bytes = { soft = 1000000000000000, hard = 2000000000000000 }\n\
                     patients = { soft = 1000000000, hard = 2000000000 }\n";
    let mut text = String::new();
    for (section, probes) in [
        ("patient", 3),
        ("clinical_staff", 20),
        ("address", 100),
        ("practice", 100),
    ] {
        text.push_str(&format!(
            "[core.guard.{section}]\n{unlimited}probes = {probes}\n\n"
        ));
    }
    std::fs::write(&config, text).unwrap();
    let mut options = ServerOptions::new(data);
    options.args.push("--config".into());
    options.args.push(config.into_os_string());
    options
}

/// `tiaki keys status`: rows per version (patient keys, sealed secrets) and the
/// versions the keyring holds.
fn status(data: &Path) -> (BTreeMap<u32, (u64, u64)>, Vec<u32>) {
    let ran = run_tiaki(["keys", "status", "--data-dir", data.to_str().unwrap()]);
    assert!(ran.status.success(), "keys status: {}", ran.stderr);
    let mut rows = BTreeMap::new();
    let mut held = Vec::new();
    for line in ran.stdout.lines() {
        let Some(rest) = line.strip_prefix("version ") else {
            continue;
        };
        let parts: Vec<&str> = rest.split_whitespace().collect();
        let version: u32 = parts[0].parse().unwrap();
        if parts[1].split(',').any(|m| m == "held") {
            held.push(version);
        }
        let count = |key: &str| -> u64 {
            parts
                .iter()
                .find_map(|p| p.strip_prefix(key))
                .unwrap()
                .parse()
                .unwrap()
        };
        rows.insert(version, (count("patient_keys="), count("sealed_secrets=")));
    }
    (rows, held)
}

/// The versions in the keyring file itself.
fn keyring_versions(data: &Path) -> Vec<(u64, String)> {
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("keyring.json")).unwrap()).unwrap();
    json["keks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["version"].as_u64().unwrap(),
                k["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Signs in with the account's authenticator app (not a recovery code), which opens
/// its sealed TOTP seed on the server.
async fn totp_sign_in(base: &str, login: &DemoLogin) -> Result<Api, String> {
    let code = super::server::fresh_totp(login).unwrap();
    let http = client();
    let response = http
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({
            "username": login.username,
            "password": login.password,
            "totp": code,
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::CREATED {
        return Err(format!("{} answered {status}: {body}", login.username));
    }
    Ok(Api {
        http,
        base: base.to_owned(),
        token: body["token"].as_str().unwrap().to_owned(),
    })
}

/// What a read of a document must give: 200 and a body of its type.
fn check_read(
    answer: Result<(u16, bytes::Bytes), reqwest::Error>,
    doc: &str,
) -> Result<(), String> {
    match answer {
        Ok((200, body))
            if body.starts_with(b"%PDF")
                || body.starts_with(b"\x89PNG")
                || body.starts_with(b"rotation") =>
        {
            Ok(())
        }
        Ok((200, body)) => Err(format!(
            "{doc}: 200 with an unexpected body of {} bytes",
            body.len()
        )),
        Ok((status, body)) => Err(format!(
            "{doc}: {status} {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
        Err(e) => Err(format!("{doc}: request failed: {e}")),
    }
}

/// Every document of every demo patient, read by its practice's clinician. Returns
/// how many were read.
async fn read_everything(base: &str, logins: &[DemoLogin]) -> usize {
    let mut practices: Vec<String> = logins
        .iter()
        .filter_map(|l| l.practice_id.clone())
        .collect();
    practices.sort();
    practices.dedup();
    let mut read = 0;
    for practice in &practices {
        let clinician = logins
            .iter()
            .find(|l| l.role == "clinician" && l.practice_id.as_deref() == Some(practice))
            .unwrap();
        let api = Api::login(base, &clinician.username, &clinician.password).await;
        for patient in logins.patients_of(practice) {
            for doc in api.documents(patient.patient()).await {
                check_read(api.content(&doc.id).await, &doc.id).unwrap();
                read += 1;
            }
        }
    }
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_under_load_fails_no_read_and_retires_the_old_key() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    demo_copy(&data);
    let server = unbudgeted(&data).start();
    let logins = server.logins();
    let (before, held) = status(&data);
    assert_eq!(held, vec![1]);
    let (patient_keys, sealed_secrets) = before[&1];
    assert!(patient_keys >= 60 && sealed_secrets >= 70, "{before:?}");

    // Readers: patients reading their own documents, round and round.
    let patients = logins.patients();
    let mut readers = Vec::new();
    for login in patients.iter().take(READERS) {
        let api = Api::login(&server.base, &login.username, &login.password).await;
        let docs: Vec<String> = api
            .documents(login.patient())
            .await
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert!(!docs.is_empty());
        readers.push((api, docs));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for (api, docs) in readers {
        let (stop, reads, failures) = (stop.clone(), reads.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let doc = &docs[i % docs.len()];
                i += 1;
                match check_read(api.content(doc).await, doc) {
                    Ok(()) => {
                        reads.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => failures.lock().unwrap().push(e),
                }
            }
        }));
    }
    // An uploader: new documents need the patient key too.
    let uploader_login = patients[READERS];
    let uploader = Api::login(
        &server.base,
        &uploader_login.username,
        &uploader_login.password,
    )
    .await;
    let uploaded: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let (stop, failures, uploaded) = (stop.clone(), failures.clone(), uploaded.clone());
        let patient = uploader_login.patient().to_owned();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let file = NewFile {
                    title: "rotation note",
                    kind: None,
                    filename: "note.txt",
                    mime: "text/plain",
                    bytes: format!("rotation note {n}\n").into_bytes(),
                };
                match uploader.upload(&patient, file).await {
                    Ok((201, body)) => uploaded
                        .lock()
                        .unwrap()
                        .push(body["id"].as_str().unwrap().to_owned()),
                    other => failures.lock().unwrap().push(format!("upload: {other:?}")),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }
    // Sign-ins with the authenticator app during the rotation: each opens a TOTP seed
    // that is being re-sealed.
    let signed_in_during: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let (stop, failures, signed) = (stop.clone(), failures.clone(), signed_in_during.clone());
        let base = server.base.clone();
        let who: Vec<DemoLogin> = patients
            .iter()
            .skip(READERS + 1)
            .take(20)
            .map(|l| (*l).clone())
            .collect();
        tasks.push(tokio::spawn(async move {
            for login in who {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                match totp_sign_in(&base, &login).await {
                    Ok(_) => signed.lock().unwrap().push(login.username.clone()),
                    Err(e) => failures.lock().unwrap().push(format!("sign-in: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let reads_before = reads.load(Ordering::SeqCst);
    let started = Instant::now();
    let dir = data.clone();
    let ran = tokio::task::spawn_blocking(move || {
        run_tiaki([
            "keys",
            "rotate",
            "--data-dir",
            dir.to_str().unwrap(),
            "--batch",
            "10",
            "--pause-ms",
            "100",
        ])
    })
    .await
    .unwrap();
    let rotation = started.elapsed();
    let reads_during = reads.load(Ordering::SeqCst) - reads_before;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    assert!(
        ran.status.success(),
        "keys rotate failed\n{}\n{}",
        ran.stdout,
        ran.stderr
    );
    assert!(
        ran.stdout.contains("Rotated to key version 2")
            && ran.stdout.contains("Every running server (1)"),
        "{}",
        ran.stdout
    );
    let failures = failures.lock().unwrap().clone();
    println!(
        "rotation took {rotation:?}: {reads_during} reads during it, {} in all, {} uploads, {} TOTP sign-ins, {} failures",
        reads.load(Ordering::SeqCst),
        uploaded.lock().unwrap().len(),
        signed_in_during.lock().unwrap().len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "failed during the rotation: {failures:#?}"
    );
    assert!(
        reads_during >= 20,
        "only {reads_during} reads overlapped the rotation"
    );
    assert!(!signed_in_during.lock().unwrap().is_empty());
    assert!(
        server.stderr().contains("took up a changed keyring"),
        "the server took up the new keyring without a restart"
    );

    // Only the new version is left, and every row is under it.
    assert_eq!(keyring_versions(&data), vec![(2, "active".to_owned())]);
    let (after, held) = status(&data);
    assert_eq!(held, vec![2]);
    let uploads = uploaded.lock().unwrap().clone();
    assert_eq!(
        after.keys().copied().collect::<Vec<_>>(),
        vec![2],
        "{after:?}"
    );
    assert_eq!(after[&2], (patient_keys, sealed_secrets), "nothing lost");

    // Every document reads, on this server and on a fresh one.
    let uploader = Api::login(
        &server.base,
        &uploader_login.username,
        &uploader_login.password,
    )
    .await;
    for id in &uploads {
        check_read(uploader.content(id).await, id).unwrap();
    }
    let all = read_everything(&server.base, &logins).await;
    assert!(all >= 100, "{all}");
    drop(server);
    let server = unbudgeted(&data).start();
    let all_again = read_everything(&server.base, &logins).await;
    assert_eq!(all_again, all);
    // Every other account's authenticator opens under the new key.
    let signed = signed_in_during.lock().unwrap().clone();
    for login in logins
        .iter()
        .filter(|l| !signed.contains(&l.username))
        .take(40)
    {
        totp_sign_in(&server.base, login).await.unwrap();
    }

    // Every step is in the audit log.
    let export = root.path().join("audit.jsonl");
    let ran = run_tiaki([
        "audit",
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        export.to_str().unwrap(),
    ]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let log = std::fs::read_to_string(&export).unwrap();
    for action in [
        "keys.rotate.begin",
        "keys.rotate.servers_ready",
        "keys.rotate.fence",
        "keys.rewrap",
        "keys.retire",
    ] {
        assert!(log.contains(&format!("\"{action}\"")), "no {action} event");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_killed_midway_carries_on_and_loses_nothing() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    demo_copy(&data);
    let (before, _) = status(&data);
    let (patient_keys, sealed_secrets) = before[&1];

    // Small batches with pauses, so the kill lands in the middle of the re-wrap.
    let log = root.path().join("rotate.log");
    let mut command = Command::new(TIAKI);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TIAKI_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(["keys", "rotate", "--data-dir", data.to_str().unwrap()])
        .args(["--batch", "3", "--pause-ms", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let midway = text.lines().any(|l| {
            l.starts_with("re-wrapping patient keys [")
                && l.rsplit_once('(')
                    .and_then(|(_, p)| p.strip_suffix("%)"))
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_some_and(|p| (20..=80).contains(&p))
        });
        if midway {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the rotation ended before it could be killed: {text}"
        );
        assert!(Instant::now() < deadline, "no progress: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Midway: both versions held, rows under both.
    let (mid, held) = status(&data);
    assert_eq!(held, vec![1, 2], "{mid:?}");
    assert!(mid[&1].0 > 0 && mid[&2].0 > 0, "a mix of versions: {mid:?}");
    assert_eq!(mid[&1].0 + mid[&2].0, patient_keys);

    // Run again: it carries on (no third version) and finishes.
    let ran = run_tiaki(["keys", "rotate", "--data-dir", data.to_str().unwrap()]);
    assert!(ran.status.success(), "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .contains("Carrying on with the rotation to key version 2")
            && ran
                .stdout
                .contains("Finished the rotation to key version 2"),
        "{}",
        ran.stdout
    );
    assert_eq!(keyring_versions(&data), vec![(2, "active".to_owned())]);
    let (after, held) = status(&data);
    assert_eq!(held, vec![2]);
    assert_eq!(after.keys().copied().collect::<Vec<_>>(), vec![2]);
    assert_eq!(after[&2], (patient_keys, sealed_secrets), "nothing lost");

    // `retire` now has nothing to do; a new rotation starts version 3.
    let ran = run_tiaki(["keys", "retire", "--data-dir", data.to_str().unwrap()]);
    assert!(ran.status.success(), "{}", ran.stderr);
    assert!(ran.stdout.contains("Nothing to retire"), "{}", ran.stdout);

    let server = unbudgeted(&data).start();
    let logins = server.logins();
    assert!(read_everything(&server.base, &logins).await >= 100);
    for login in logins.iter().take(30) {
        totp_sign_in(&server.base, login).await.unwrap();
    }
}
