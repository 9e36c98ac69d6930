//! Start-up refuses what would be unsafe, clearly: the wrong keyring, a keyring others
//! can read, plain HTTP beyond loopback; and `serve --demo` seeds only once.

use super::api::Api;
use super::server::{Logins as _, ServerOptions, StartFailure, run_tiaki};
use serde_json::Value;
use std::ffi::OsString;
use std::path::Path;

fn migrate(data: &Path) {
    let ran = run_tiaki([
        OsString::from("migrate"),
        "--data-dir".into(),
        data.as_os_str().to_owned(),
    ]);
    assert!(ran.status.success(), "migrate failed: {}", ran.stderr);
}

fn refused(options: &ServerOptions) -> StartFailure {
    match options.try_start() {
        Ok(server) => panic!(
            "the server started on {} but should have refused",
            server.addr
        ),
        Err(failure) => {
            let status = failure.status.expect("the server should exit by itself");
            assert!(
                !status.success(),
                "refused, yet exited with success: {status}"
            );
            assert!(
                !failure.stdout.contains("listening"),
                "it listened: {}",
                failure.stdout
            );
            failure
        }
    }
}

#[test]
fn a_different_keyring_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let other = dir.path().join("other");
    // Start once (creating the database and its keyring), stop.
    let mut first = ServerOptions::new(&data).start();
    first.kill();
    // A freshly generated keyring of another installation.
    migrate(&other);
    let wrong = other.join("keyring.json");
    assert!(wrong.is_file());

    let failure = refused(&ServerOptions::new(&data).arg("--keyring").arg(&wrong));
    assert!(
        failure.stderr.contains("keyring") && failure.stderr.contains("not the keyring"),
        "the message does not say the keyring is wrong:\n{}",
        failure.stderr
    );
    // The refusal changed nothing: the right keyring still opens the database.
    let mut again = ServerOptions::new(&data).start();
    again.kill();
}

#[test]
fn a_keyring_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    migrate(&data);
    let keyring = data.join("keyring.json");
    let mode = std::fs::metadata(&keyring).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a generated keyring should be owner-only");
    std::fs::set_permissions(&keyring, std::fs::Permissions::from_mode(0o644)).unwrap();

    let failure = refused(&ServerOptions::new(&data));
    assert!(
        failure.stderr.contains("keyring") && failure.stderr.contains("644"),
        "the message does not say the keyring's mode is the problem:\n{}",
        failure.stderr
    );
}

#[test]
fn plain_http_beyond_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let failure = refused(&ServerOptions::new(&data).listen(&format!("0.0.0.0:{port}")));
    assert!(
        failure.stderr.contains("TLS") && failure.stderr.contains("--behind-tls-proxy"),
        "the message does not explain the refusal:\n{}",
        failure.stderr
    );
}

async fn document_counts(base: &str, data: &Path) -> Vec<(String, u64)> {
    let logins = super::server::DemoLogin::read(data);
    let operator = logins.by_username("operator");
    let api = Api::login(base, &operator.username, &operator.password).await;
    let practices = api.get_json("/api/v1/platform/practices").await;
    let mut counts: Vec<(String, u64)> = practices
        .as_array()
        .unwrap()
        .iter()
        .map(|p: &Value| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["documents"].as_u64().unwrap(),
            )
        })
        .collect();
    counts.sort();
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_seeds_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let mut first = ServerOptions::new(&data).demo().start();
    assert!(
        first.stdout().contains("Seeded the demo"),
        "first run: {}",
        first.stdout()
    );
    let logins_before = std::fs::read_to_string(data.join("demo-logins.json")).unwrap();
    let counts_before = document_counts(&first.base, &data).await;
    assert_eq!(counts_before.len(), 3, "{counts_before:?}");
    assert!(
        counts_before.iter().all(|(_, n)| *n > 0),
        "{counts_before:?}"
    );
    first.kill();

    let mut second = ServerOptions::new(&data).demo().start();
    assert!(
        second.stdout().contains("The demo was seeded before"),
        "second run: {}",
        second.stdout()
    );
    assert!(!second.stdout().contains("Seeded the demo"));
    let counts_after = document_counts(&second.base, &data).await;
    assert_eq!(
        counts_before, counts_after,
        "the second run changed the data"
    );
    let logins_after = std::fs::read_to_string(data.join("demo-logins.json")).unwrap();
    assert_eq!(logins_before, logins_after, "the logins file was rewritten");
    second.kill();
}
