//! The audit log survives kill -9 in the middle of a burst of appends: after restart
//! every acknowledged event is in the log, the exported log verifies offline, and it
//! extends the last checkpoint the witness received before the crash.

use super::api::{Api, client};
use super::server::{DemoLogin, Logins as _, ServerOptions, demo_copy, run_tiaki};
use std::collections::BTreeSet;
use std::time::Duration;

/// Reads documents as fast as it can until the server dies; returns the access ids of
/// every read it saw acknowledged (a 200 carries the audit receipt's id).
async fn read_until_killed(api: Api, patient: String) -> Vec<String> {
    let http = client();
    let docs = api.documents(&patient).await;
    let mut acknowledged = Vec::new();
    for round in 0.. {
        let Some(doc) = docs.get(round % docs.len().max(1)) else {
            break;
        };
        let response = http
            .get(format!("{}/api/v1/documents/{}/content", api.base, doc.id))
            .bearer_auth(&api.token)
            .send()
            .await;
        let Ok(response) = response else { break };
        if response.status() != 200 {
            break;
        }
        let id = response.headers()["x-tiaki-access-id"]
            .to_str()
            .unwrap()
            .to_owned();
        // Acknowledged: the receipt id came back with the content.
        if response.bytes().await.is_ok() {
            acknowledged.push(id);
        }
    }
    acknowledged
}

fn last_note(witness: &str) -> String {
    let lines: Vec<&str> = witness.lines().collect();
    assert!(
        lines.len() >= 5,
        "the witness holds at least one checkpoint"
    );
    format!("{}\n", lines[lines.len() - 5..].join("\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_kill_9_and_the_log_verifies() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    demo_copy(&data);
    let logins = DemoLogin::read(&data);
    let patients: Vec<&DemoLogin> = logins.patients().into_iter().take(3).collect();
    let mut acknowledged = BTreeSet::new();
    let mut witness_before_last_crash = String::new();
    for round in 0..3u64 {
        let server = ServerOptions::new(&data).start();
        let mut tasks = Vec::new();
        for p in &patients {
            let api = Api::login(&server.base, &p.username, &p.password).await;
            tasks.push(tokio::spawn(read_until_killed(api, p.patient().to_owned())));
        }
        tokio::time::sleep(Duration::from_millis(1500 + 400 * round)).await;
        // Make sure a checkpoint exists, and remember what the witness holds.
        let note = client()
            .get(server.url("/api/v1/audit/checkpoint"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(note.contains("\n\n\u{2014} "), "a signed note: {note}");
        let mut server = server;
        witness_before_last_crash =
            std::fs::read_to_string(data.join("audit-witness.txt")).unwrap_or_default();
        server.kill();
        for t in tasks {
            acknowledged.extend(t.await.unwrap());
        }
    }
    assert!(
        acknowledged.len() > 20,
        "the burst made progress ({} reads)",
        acknowledged.len()
    );

    let export = root.path().join("audit.jsonl");
    let ran = run_tiaki([
        "audit",
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        export.to_str().unwrap(),
    ]);
    assert!(ran.status.success(), "export failed: {}", ran.stderr);
    let exported = std::fs::read_to_string(&export).unwrap();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !exported.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged events missing after kill -9: {missing:?}"
    );

    let ran = run_tiaki(["audit", "verify", export.to_str().unwrap()]);
    assert!(
        ran.status.success(),
        "verify failed: {}{}",
        ran.stdout,
        ran.stderr
    );
    assert!(ran.stdout.starts_with("OK: "), "{}", ran.stdout);

    let note = root.path().join("before-crash.note");
    std::fs::write(&note, last_note(&witness_before_last_crash)).unwrap();
    let ran = run_tiaki([
        "audit",
        "verify",
        export.to_str().unwrap(),
        "--against",
        note.to_str().unwrap(),
    ]);
    assert!(
        ran.status.success(),
        "the log must extend the pre-crash checkpoint: {}{}",
        ran.stdout,
        ran.stderr
    );

    // Tampering with one exported event is caught and named.
    let tampered = root.path().join("tampered.jsonl");
    let mut lines: Vec<String> = exported.lines().map(str::to_owned).collect();
    let victim = lines
        .iter()
        .position(|l| l.contains("\"document.read\""))
        .unwrap();
    lines[victim] = lines[victim].replacen("\"document.read\"", "\"document.meta\"", 1);
    std::fs::write(&tampered, lines.join("\n")).unwrap();
    let ran = run_tiaki(["audit", "verify", tampered.to_str().unwrap()]);
    assert!(!ran.status.success());
    assert!(
        ran.stderr.contains(&format!("index {}", victim - 1)),
        "names the altered index: {}",
        ran.stderr
    );
}
