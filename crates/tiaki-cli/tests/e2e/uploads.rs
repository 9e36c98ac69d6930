//! Upload sizes around the server's 512-byte type sniff, through the API: every size
//! is stored and reads back exactly, and the server keeps running.

use super::api::{Api, NewFile};
use super::files::{self, Rng};
use super::server::{Logins as _, ServerOptions, demo_copy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_size_around_the_type_sniff_are_stored() {
    let mut rng = Rng::from_env("TIAKI_E2E_SEED");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo_copy(&data);
    let mut server = ServerOptions::new(&data).start();
    let logins = server.logins();
    let patient = logins.patients()[11].clone();
    let api = Api::login(&server.base, &patient.username, &patient.password).await;

    let mut failures = Vec::new();
    for size in [1usize, 12, 100, 511, 512, 513, 4096, 65536, 65537] {
        let bytes = files::text(size, &mut rng);
        let title = format!("Note of {size} bytes");
        let file = NewFile {
            title: &title,
            kind: None,
            filename: "note.txt",
            mime: "text/plain",
            bytes: bytes.clone(),
        };
        match api.upload(patient.patient(), file).await {
            Ok((201, body)) => {
                let id = body["id"].as_str().unwrap();
                let (status, back) = api.content(id).await.unwrap();
                if status != 200 || back.as_ref() != bytes.as_slice() {
                    failures.push(format!(
                        "{size} bytes: read back {status}, {} bytes",
                        back.len()
                    ));
                }
            }
            Ok((status, body)) => failures.push(format!("{size} bytes: {status} {body}")),
            Err(e) => failures.push(format!("{size} bytes: no answer ({e})")),
        }
    }
    let log = server.stderr();
    let panicked = log.contains("panicked");
    assert!(server.is_running(), "the server died");
    server.kill();
    assert!(
        failures.is_empty() && !panicked,
        "uploads failed:\n{}\n{}",
        failures.join("\n"),
        if panicked {
            log.lines()
                .filter(|l| l.contains("panicked") || l.contains("Unfold"))
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            String::new()
        }
    );
}
