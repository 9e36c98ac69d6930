//! The operator console against a running server: `tiaki guard module`, `contain`,
//! `status` and `release`, each a separate process sharing the server's database.

use super::kit::{DrillServer, account_of, address, secs};
use crate::e2e::api::Api;
use crate::e2e::server::{Logins as _, Ran, run_tiaki};
use std::time::{Duration, Instant};

/// Runs `tiaki guard ARGS… --data-dir … --config …` for a drill server.
async fn console(d: &DrillServer, args: &[&str]) -> Ran {
    let mut all: Vec<std::ffi::OsString> = vec!["guard".into()];
    all.extend(args.iter().map(Into::into));
    all.extend([
        "--data-dir".into(),
        d.server.data_dir.clone().into_os_string(),
        "--config".into(),
        d.config.clone().into_os_string(),
    ]);
    tokio::task::spawn_blocking(move || run_tiaki(all))
        .await
        .unwrap()
}

/// Polls `path` as `api` until it answers `status` (ten seconds at most); gives how long
/// that took.
async fn until_status(api: &Api, path: &str, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        if api.get_raw(path).await.unwrap().0 == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_guard_console_switches_modules_contains_and_releases_a_running_server() {
    let d = DrillServer::start("").await;
    let patient = d.logins.patients()[0].clone();
    let api = d.login(&patient.username, address(2, 0, 8)).await;
    let account = account_of(&api).await;
    let docs = api.documents(patient.patient()).await;
    let read = format!("/api/v1/documents/{}/content", docs[0].id);
    assert_eq!(api.get_raw(&read).await.unwrap().0, 200);

    // The kill switch, thrown from the console (another process): the running server
    // picks it up at its next refresh, and the rest of the portal keeps working.
    let ran = console(&d, &["module", "documents", "closed", "--reason", "drill"]).await;
    assert!(ran.status.success(), "{}{}", ran.stdout, ran.stderr);
    let closed_after = until_status(&api, &read, 503).await;
    assert_eq!(api.get_raw("/api/v1/me").await.unwrap().0, 200);
    let ran = console(
        &d,
        &["module", "documents", "read_only", "--reason", "drill"],
    )
    .await;
    assert!(ran.status.success());
    until_status(&api, &read, 200).await;
    let ran = console(
        &d,
        &["module", "documents", "open", "--reason", "drill over"],
    )
    .await;
    assert!(ran.status.success());
    let status = console(&d, &["status"]).await;
    assert!(
        status.stdout.contains("module documents open"),
        "{}",
        status.stdout
    );

    // Containment by hand: the session dies at once (it is revoked in the database).
    let ran = console(&d, &["contain", "--account", &account, "--reason", "drill"]).await;
    assert!(ran.status.success(), "{}{}", ran.stdout, ran.stderr);
    assert_eq!(api.get_raw("/api/v1/me").await.unwrap().0, 401);
    let status = console(&d, &["status"]).await;
    let line = status
        .stdout
        .lines()
        .find(|l| l.starts_with("contained ") && l.contains(&account))
        .unwrap_or_else(|| panic!("no containment in:\n{}", status.stdout))
        .to_owned();
    let id = line.split_whitespace().nth(1).unwrap();
    let refused = console(&d, &["release", id, "--reason", " "]).await;
    assert!(!refused.status.success(), "a release needs a reason");
    let ran = console(&d, &["release", id, "--reason", "drill over"]).await;
    assert!(ran.status.success(), "{}{}", ran.stdout, ran.stderr);
    let again = d.login(&patient.username, address(2, 0, 8)).await;
    assert_eq!(again.get_raw(&read).await.unwrap().0, 200);
    assert!(d.hook.containment_of(&account).await.is_some());
    println!(
        "CONSOLE kill_switch_effective_after_s={} (refresh_seconds = 2)",
        secs(closed_after)
    );
}
