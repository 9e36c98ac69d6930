//! Breach response against the real server (issue 6, "What must be shown"):
//!
//! - a replayed incident: a scripted compromise (a clinician's stolen credentials used
//!   from an attacker's address, among ordinary traffic, some of it by the same
//!   clinician before the theft), then `tiaki incident scope`: the affected set equals
//!   the accesses the script was served, exactly (precision and recall 1.0), and every
//!   proof in the export verifies offline (and a tampered export does not);
//! - for every demo patient, the web status page, the API status and the notice say the
//!   same (the same references at the same moments), and only affected patients are
//!   told anything;
//! - the notice sender killed midway and run again: every patient gets exactly one.

use super::api::{Api, sign_in};
use super::invitation::decode_qp;
use super::server::{
    DemoLogin, Logins as _, Ran, ServerOptions, TIAKI, demo_copy, run_tiaki, second_factor,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// (action, patient, document) as the API served it.
type Access = (String, String, String);

/// A loopback address of its own for one actor: 127.<a>.<b>.<c>.
fn address(a: u8, b: u8, c: u8) -> std::net::IpAddr {
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, a, b, c))
}

fn client_from(from: std::net::IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn cli(data: &Path, args: &[&str]) -> Ran {
    let mut all: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    all.push("--data-dir".into());
    all.push(data.into());
    let ran = run_tiaki(all);
    assert!(
        ran.status.success(),
        "tiaki {args:?} failed\n--- stdout\n{}\n--- stderr\n{}",
        ran.stdout,
        ran.stderr
    );
    ran
}

fn practices(logins: &[DemoLogin]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for l in logins {
        if let Some(p) = &l.practice_id
            && !seen.contains(p)
        {
            seen.push(p.clone());
        }
    }
    seen
}

fn staff<'a>(logins: &'a [DemoLogin], practice: &str, role: &str) -> &'a DemoLogin {
    logins
        .iter()
        .find(|l| l.role == role && l.practice_id.as_deref() == Some(practice))
        .unwrap_or_else(|| panic!("no {role} at {practice}"))
}

async fn login(base: &str, logins: &[DemoLogin], username: &str, from: std::net::IpAddr) -> Api {
    let l = logins.by_username(username);
    sign_in(&client_from(from), base, &l.username, &l.password)
        .await
        .unwrap()
}

/// Reads `path` as `api`, recording it as served when it answers 200.
async fn touch(api: &Api, path: &str, access: Access, served: &mut Vec<Access>) {
    let (status, _) = api.get_raw(path).await.unwrap();
    if status == 200 {
        served.push(access);
    }
}

/// Runs the attack: lists, headers, details and content across `victims`.
async fn attack(api: &Api, victims: &[String], served: &mut Vec<Access>) {
    for (n, patient) in victims.iter().enumerate() {
        let docs = api.documents(patient).await;
        served.push(("document.list".into(), patient.clone(), String::new()));
        if n % 2 == 0 {
            touch(
                api,
                &format!("/api/v1/patients/{patient}"),
                ("patient.view".into(), patient.clone(), String::new()),
                served,
            )
            .await;
        }
        for (i, d) in docs.iter().take(2).enumerate() {
            let (path, action) = if i == 0 {
                (
                    format!("/api/v1/documents/{}/content", d.id),
                    "document.read",
                )
            } else {
                (format!("/api/v1/documents/{}", d.id), "document.meta")
            };
            touch(
                api,
                &path,
                (action.into(), patient.clone(), d.id.clone()),
                served,
            )
            .await;
        }
    }
}

fn multiset(items: &[Access]) -> BTreeMap<Access, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i.clone()).or_insert(0) += 1;
    }
    m
}

fn overlap(a: &BTreeMap<Access, usize>, b: &BTreeMap<Access, usize>) -> usize {
    a.iter()
        .map(|(k, n)| (*n).min(b.get(k).copied().unwrap_or(0)))
        .sum()
}

fn export_of(dir: &Path, number: u64) -> (PathBuf, Value) {
    let path = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name().is_some_and(|n| {
                    n.to_string_lossy()
                        .starts_with(&format!("incident-{number}-"))
                })
        })
        .expect("an export");
    let value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (path, value)
}

/// (reference, moment) pairs in a text: "... on 2026-11-20 14:03:12 UTC (reference ABC)."
fn lines_of_text(text: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let Some((head, rest)) = line.split_once(" UTC (reference ") else {
            continue;
        };
        let reference = rest.trim_end_matches(").").trim_end_matches(')').to_owned();
        let moment = head
            .get(head.len().saturating_sub(19)..)
            .unwrap_or_default();
        out.insert((reference, format!("{moment} UTC")));
    }
    out
}

/// A staff member's page session (cookie) through the sign-in forms.
async fn page_session(base: &str, login: &DemoLogin) -> (reqwest::Client, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(format!("{base}/login")).send().await.unwrap();
    let cookie = set_cookie(&page, "__Host-tiaki_login=");
    let csrf = csrf_field(&page.text().await.unwrap());
    let posted = http
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &cookie)
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .body(format!(
            "csrf={csrf}&username={}&password={}",
            login.username, login.password
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 303);
    let pending = set_cookie(&posted, "__Host-tiaki_session=");
    let page = http
        .get(format!("{base}/login/second-factor"))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    let csrf = csrf_field(&page.text().await.unwrap());
    let (_, code) = second_factor(&login.username, &login.password).unwrap();
    let verified = http
        .post(format!("{base}/login/second-factor"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &pending)
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .body(format!("csrf={csrf}&code={code}"))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 303, "second factor accepted");
    let session = set_cookie(&verified, "__Host-tiaki_session=");
    (http, session)
}

fn set_cookie(response: &reqwest::Response, prefix: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} cookie"))
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn csrf_field(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_owned()
}

/// (reference, moment) pairs on the status page, and whether it says affected.
fn lines_of_page(html: &str) -> (bool, BTreeSet<(String, String)>) {
    let affected = html.contains("data-affected=\"true\"");
    let mut out = BTreeSet::new();
    for item in html.split("<li data-reference=\"").skip(1) {
        let reference = item.split('"').next().unwrap().to_owned();
        let moment = item
            .split("data-accessed-at=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_owned();
        out.insert((reference, moment));
    }
    (affected, out)
}

fn lines_of_api(status: &Value) -> (bool, BTreeSet<(String, String)>) {
    let mut out = BTreeSet::new();
    for (i, incident) in status["incidents"].as_array().unwrap().iter().enumerate() {
        for (j, access) in incident["accesses"].as_array().unwrap().iter().enumerate() {
            let sentence = status["sentences"][i][j].as_str().unwrap();
            let from_text = lines_of_text(sentence);
            assert_eq!(from_text.len(), 1, "one reference per sentence: {sentence}");
            let (reference, moment) = from_text.into_iter().next().unwrap();
            assert_eq!(access["reference"].as_str().unwrap(), reference);
            out.insert((reference, moment));
        }
    }
    (status["affected"].as_bool().unwrap(), out)
}

fn notice_of(outbox: &Path, number: u64, patient: &str) -> Option<String> {
    let path = outbox.join(format!("incident-{number}-{patient}.eml"));
    std::fs::read_to_string(path)
        .ok()
        .map(|raw| decode_qp(&raw))
}

/// A served copy of the demo: its directory, data directory, server and logins.
fn demo_server() -> (
    tempfile::TempDir,
    PathBuf,
    super::server::Server,
    Vec<DemoLogin>,
) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo_copy(&data);
    let server = ServerOptions::new(&data).demo().start();
    let logins = server.logins();
    (dir, data, server, logins)
}

struct Replay {
    server: super::server::Server,
    logins: Vec<DemoLogin>,
    data: PathBuf,
    out: PathBuf,
    served: Vec<Access>,
    _dir: tempfile::TempDir,
}

/// A demo server, ordinary traffic, and the compromise: the clinician of the first
/// practice reads some records legitimately, then their password and authenticator
/// are used from an attacker's address.
async fn replay() -> Replay {
    let (dir, data, server, logins) = demo_server();
    let base = server.base.clone();
    let practices = practices(&logins);
    let home = &practices[0];
    let clinician = staff(&logins, home, "clinician").username.clone();
    let patients: Vec<String> = logins
        .patients_of(home)
        .iter()
        .map(|l| l.patient().to_owned())
        .collect();

    // Before the theft: the clinician's own work, and a colleague's.
    let own = login(&base, &logins, &clinician, address(10, 0, 1)).await;
    let mut ignored = Vec::new();
    attack(&own, &patients[..3], &mut ignored).await;
    let nurse = staff(&logins, home, "nurse").username.clone();
    let colleague = login(&base, &logins, &nurse, address(10, 0, 2)).await;
    attack(&colleague, &patients[3..6], &mut ignored).await;
    // The window opens a moment after the clinician's own reads.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let window_start = time::OffsetDateTime::now_utc();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // The compromise, from the attacker's address; ordinary traffic goes on beside it.
    let stolen = login(&base, &logins, &clinician, address(66, 6, 6)).await;
    let mut served = Vec::new();
    attack(&stolen, &patients[2..10], &mut served).await;
    // Another practice's record: refused (404), so nothing was disclosed.
    let elsewhere = logins.patients_of(&practices[1])[0].patient().to_owned();
    let (status, _) = stolen
        .get_raw(&format!("/api/v1/patients/{elsewhere}/documents"))
        .await
        .unwrap();
    assert_eq!(status, 404);
    attack(&colleague, &patients[6..8], &mut ignored).await;
    let patient = logins.patients_of(home)[0];
    let me = login(&base, &logins, &patient.username, address(10, 0, 3)).await;
    attack(&me, &[patient.patient().to_owned()], &mut ignored).await;

    let out = dir.path().join("exports");
    let number = cli(
        &data,
        &[
            "incident",
            "open",
            "--title",
            "A clinician's stolen credentials",
        ],
    );
    assert!(
        number.stdout.contains("Opened incident 1"),
        "{}",
        number.stdout
    );
    let from = window_start
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    cli(
        &data,
        &[
            "incident", "scope", "1", "--actor", &clinician, "--from", &from,
        ],
    );
    Replay {
        server,
        logins,
        data,
        out,
        served,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_incident_is_scoped_exactly_and_every_channel_tells_each_patient_the_same() {
    let r = replay().await;
    cli(
        &r.data,
        &["incident", "export", "1", "--out", r.out.to_str().unwrap()],
    );
    let (export_path, export) = export_of(&r.out, 1);
    let found: Vec<Access> = export["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["action"].as_str().unwrap().to_owned(),
                row["patient"].as_str().unwrap().to_owned(),
                row["document"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let (truth, scoped) = (multiset(&r.served), multiset(&found));
    let hit = overlap(&truth, &scoped);
    let precision = hit as f64 / found.len() as f64;
    let recall = hit as f64 / r.served.len() as f64;
    println!(
        "INCIDENT replay: served={} scoped={} precision={precision:.3} recall={recall:.3}",
        r.served.len(),
        found.len()
    );
    assert!(
        r.served.len() >= 20,
        "a real compromise: {} accesses",
        r.served.len()
    );
    assert_eq!(
        scoped, truth,
        "the scope is exactly what the attacker was served"
    );

    // Every proof verifies offline against the key the server publishes.
    let key_body = reqwest::get(r.server.url("/api/v1/audit/key"))
        .await
        .unwrap();
    let key = key_body.text().await.unwrap().trim().to_owned();
    let ok = run_tiaki([
        "incident".into(),
        "verify".into(),
        export_path.clone().into_os_string(),
        "--key".into(),
        std::ffi::OsString::from(&key),
    ]);
    assert!(ok.status.success(), "{}", ok.stderr);
    assert!(
        ok.stdout
            .contains(&format!("{} accesses proved", found.len())),
        "{}",
        ok.stdout
    );
    // A row changed after the fact no longer verifies.
    let mut forged = export.clone();
    forged["rows"][0]["patient"] = forged["rows"][1]["patient"].clone();
    if forged["rows"][0]["patient"] == export["rows"][0]["patient"] {
        forged["rows"][0]["at"] = Value::from("2020-01-01T00:00:00Z");
    }
    let forged_path = r.out.join("forged.json");
    std::fs::write(&forged_path, serde_json::to_vec(&forged).unwrap()).unwrap();
    let mut args: Vec<std::ffi::OsString> = ["incident", "verify"].map(Into::into).to_vec();
    args.push(forged_path.into());
    args.push("--key".into());
    args.push(key.into());
    assert!(
        !run_tiaki(args).status.success(),
        "a forged export fails verification"
    );

    // Publish and notify; then every patient, every channel.
    cli(&r.data, &["incident", "publish", "1"]);
    cli(&r.data, &["incident", "notify", "1", "--rate", "200"]);
    let outbox = r.data.join("outbox");
    let affected: BTreeSet<&String> = r.served.iter().map(|(_, p, _)| p).collect();
    let mut checked = 0;
    for practice in practices(&r.logins) {
        let desk = staff(&r.logins, &practice, "reception");
        let api = login(&r.server.base, &r.logins, &desk.username, address(10, 1, 1)).await;
        let (http, cookie) = page_session(&r.server.base, desk).await;
        for p in r.logins.patients_of(&practice) {
            let id = p.patient();
            let (api_affected, api_lines) = lines_of_api(
                &api.get_json(&format!("/api/v1/patients/{id}/security-status"))
                    .await,
            );
            let page = http
                .get(r.server.url(&format!("/patients/{id}/security-status")))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), 200);
            let (web_affected, web_lines) = lines_of_page(&page.text().await.unwrap());
            let is_affected = affected.contains(&id.to_owned());
            assert_eq!(api_affected, is_affected, "API for {id}");
            assert_eq!(web_affected, is_affected, "web for {id}");
            assert_eq!(web_lines, api_lines, "web = API for {id}");
            match notice_of(&outbox, 1, id) {
                Some(text) => {
                    assert!(is_affected, "only affected patients are told: {id}");
                    assert_eq!(lines_of_text(&text), api_lines, "notice = API for {id}");
                    assert!(text.contains("Privacy Commissioner"));
                }
                None => assert!(
                    !is_affected || api_lines.is_empty(),
                    "affected patient {id} has no notice"
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, r.logins.patients().len());
    println!("INCIDENT status: {checked} patients, web = API = notice for each");

    // The regulator draft and practice summaries are written.
    let reports = r.out.join("reports");
    cli(
        &r.data,
        &[
            "incident",
            "report",
            "1",
            "--out",
            reports.to_str().unwrap(),
        ],
    );
    let names: Vec<String> = std::fs::read_dir(&reports)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("regulator-draft.md")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.contains("-practice-")), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notice_run_killed_midway_and_resumed_sends_each_patient_exactly_one() {
    let r = replay().await;
    cli(&r.data, &["incident", "publish", "1"]);
    let outbox = r.data.join("outbox");
    let notices = |outbox: &Path| -> Vec<String> {
        std::fs::read_dir(outbox)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("incident-1-") && n.ends_with(".eml"))
                    .collect()
            })
            .unwrap_or_default()
    };
    // A slow run, killed once a few notices are out.
    let mut child = Command::new(TIAKI)
        .args(["incident", "notify", "1", "--rate", "2", "--data-dir"])
        .arg(&r.data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while notices(&outbox).len() < 2 {
        assert!(Instant::now() < deadline, "the first run sent nothing");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the first run ended early"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = notices(&outbox).len();
    // The dead run's lease lapses; the next run carries on.
    let resumed = cli(&r.data, &["incident", "notify", "1", "--rate", "200"]);
    let after = notices(&outbox);
    let unique: BTreeSet<&String> = after.iter().collect();
    assert_eq!(unique.len(), after.len());
    let affected: BTreeSet<&String> = r.served.iter().map(|(_, p, _)| p).collect();
    println!(
        "INCIDENT resume: {before} notices before the kill, {} after; {}",
        after.len(),
        resumed.stdout.trim()
    );
    let listed = cli(&r.data, &["incident", "list"]).stdout;
    let figure = |label: &str| -> usize {
        listed
            .split(&format!(" {label}"))
            .next()
            .and_then(|head| head.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label} count in {listed}"))
    };
    assert_eq!(
        (figure("queued"), figure("sending"), figure("failed")),
        (0, 0, 0),
        "{listed}"
    );
    // Each affected patient is either sent exactly one notice (one file, named by
    // incident and patient, written once) or has no address for the practice to call.
    assert_eq!(
        figure("sent"),
        after.len(),
        "every sent notice is in the outbox, once"
    );
    assert_eq!(
        figure("sent") + figure("without address"),
        affected.len(),
        "{listed}"
    );
    for file in &after {
        assert!(
            affected.iter().any(|p| file.contains(p.as_str())),
            "a notice for an unaffected patient: {file}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn containment_commands_sign_everyone_out_and_force_resets() {
    let (_dir, data, server, logins) = demo_server();
    let base = server.base.clone();
    let practice = practices(&logins)[0].clone();
    let clinician = staff(&logins, &practice, "clinician").clone();
    let patient = logins.patients_of(&practice)[0].clone();
    let doctor = login(&base, &logins, &clinician.username, address(20, 0, 1)).await;
    let them = login(&base, &logins, &patient.username, address(20, 0, 2)).await;
    let me = |api: &Api| {
        let api = api.clone();
        async move { api.get_raw("/api/v1/me").await.unwrap().0 }
    };
    assert_eq!((me(&doctor).await, me(&them).await), (200, 200));

    // A name that does not exist: nothing changes.
    let mut args: Vec<std::ffi::OsString> =
        ["contain", "reset", "--account"].map(Into::into).to_vec();
    args.push(clinician.username.clone().into());
    args.push("--account".into());
    args.push("nobody.at.all".into());
    args.push("--data-dir".into());
    args.push(data.clone().into());
    let refused = run_tiaki(args);
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("nothing was changed"),
        "{}",
        refused.stderr
    );
    assert_eq!(me(&doctor).await, 200, "a refused command changes nothing");

    // A forced reset: the session dies and the password no longer signs in.
    let done = cli(
        &data,
        &["contain", "reset", "--account", &clinician.username],
    );
    assert!(done.stdout.contains("for 1 accounts"), "{}", done.stdout);
    assert_eq!(me(&doctor).await, 401);
    assert_eq!(me(&them).await, 200, "others are untouched");
    let again = sign_in(
        &client_from(address(20, 0, 1)),
        &base,
        &clinician.username,
        &clinician.password,
    )
    .await;
    assert!(again.is_err(), "the old password is dead");

    // Everyone out.
    let out = cli(&data, &["contain", "sessions", "--everyone"]);
    assert!(out.stdout.starts_with("Revoked "), "{}", out.stdout);
    assert_eq!(me(&them).await, 401);
    // Signing in again still works for those not reset.
    let back = login(&base, &logins, &patient.username, address(20, 0, 2)).await;
    assert_eq!(me(&back).await, 200);
}
