//! The guard's drill suite (issue 5, "What must be shown"): attacks and an ordinary day,
//! against the real `tiaki serve` over HTTP. Each drill prints one line
//! (`DRILL <n> <name>: served=… contained_after_s=… alert=yes|no …`) and asserts the
//! issue's bound. Every drill's server posts its alerts to a webhook receiver here;
//! `alert=yes` means the containment's critical alert reached it.
//!
//! The figures are kept in BENCHMARKS.md; to reproduce them:
//! `cargo test -p tiaki-cli --test e2e drills -- --nocapture --test-threads=1`
//! (`TIAKI_DRILL_HOURS` sets the ordinary day's length, in compressed hours; drill 6
//! needs PostgreSQL, `TIAKI_TEST_PG_URL`, and `s3s-fs`).
//!
//! Attacker and setup traffic come from loopback addresses of their own (127.x.y.z), as
//! they would from different machines: the guard counts per network address as well.

mod kit;

use super::api::Api;
use super::server::{DemoLogin, Logins as _, ServerOptions, run_tiaki};
use kit::{
    DrillServer, Hook, Report, Scraped, Scraper, Surface, account_of, add_documents, address,
    canaries, client_from, containments, detector_of, patients_of, secs,
};
use serde_json::Value;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Issue 5's bounds for a compromised staff session.
const MAX_DOCUMENTS: u64 = 100;
const MAX_SECONDS: f64 = 60.0;
/// Extra documents per patient, so a demo practice holds more than the bound.
const PAD_PER_PATIENT: usize = 3;

fn practices(logins: &[DemoLogin]) -> Vec<String> {
    let mut seen = Vec::new();
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
        .unwrap_or_else(|| panic!("no {role} at practice {practice}"))
}

/// Content GET as `api`: the status (the body is read and dropped).
async fn read_status(api: &Api, document: &str) -> u16 {
    api.get_raw(&format!("/api/v1/documents/{document}/content"))
        .await
        .unwrap()
        .0
}

// --- 1 -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drill_1_a_patient_session_walking_other_patients_document_ids() {
    let d = DrillServer::start("").await;
    let practices = practices(&d.logins);
    let home = &practices[0];
    let attacker_login = d.logins.patients_of(home)[0].clone();

    // Document ids of other patients, at the attacker's practice and another one, the
    // way a leak or a guessed pattern would give them.
    let mut lists = Vec::new();
    for (n, practice) in practices.iter().take(2).enumerate() {
        let clinician = staff(&d.logins, practice, "clinician");
        let setup = d
            .login(
                &clinician.username,
                address(1, 0, u8::try_from(n).unwrap() + 1),
            )
            .await;
        let mut ids = Vec::new();
        for patient in patients_of(&d.logins, practice)
            .iter()
            .filter(|p| *p != attacker_login.patient())
            .take(5)
        {
            ids.extend(setup.documents(patient).await.into_iter().map(|doc| doc.id));
        }
        lists.push(ids);
    }
    let foreign: Vec<String> = (0..lists.iter().map(Vec::len).max().unwrap())
        .flat_map(|i| lists.iter().filter_map(move |l| l.get(i).cloned()))
        .collect();
    assert!(foreign.len() >= 20, "enough foreign ids to walk");

    let attacker = d.login(&attacker_login.username, address(2, 0, 1)).await;
    let account = account_of(&attacker).await;
    let own = attacker.documents(attacker_login.patient()).await;
    assert_eq!(read_status(&attacker, &own[0].id).await, 200);

    let started = Instant::now();
    let (mut served, mut probes) = (0u64, 0u64);
    let mut contained_after = None;
    for id in &foreign {
        match read_status(&attacker, id).await {
            200 => served += 1,
            404 if contained_after.is_none() => probes += 1,
            401 | 403 => {
                contained_after.get_or_insert_with(|| started.elapsed());
            }
            other => panic!("a probe answered {other}"),
        }
    }
    let alert = d.hook.containment_of(&account).await.is_some();
    let detector = detector_of(&d.overview().await, &account);
    Report {
        n: "1",
        name: "patient-walks-foreign-document-ids",
        served,
        contained_after,
        alert: Some(alert),
        extra: vec![
            ("probes_before_containment", probes.to_string()),
            ("ids_tried", foreign.len().to_string()),
            ("detector", detector.clone().unwrap_or_default()),
        ],
    }
    .print();
    assert_eq!(served, 0, "no foreign document is ever served");
    assert!(contained_after.is_some(), "the patient was never contained");
    assert!(probes <= 3, "contained only after {probes} probes");
    assert_eq!(detector.as_deref(), Some("breadth"));
    assert!(alert, "the alert did not reach the webhook");
}

// --- 2, 3: a staff session scraping its practice -----------------------------------

struct ScrapeDrill {
    n: &'static str,
    name: &'static str,
    attacker_role: &'static str,
    surface: Surface,
    concurrency: usize,
    /// Leave the decoys alone, so the figure is the budget's.
    skip_decoys: bool,
    /// Take the patients in a random order (`TIAKI_DRILL_SEED` replays one).
    shuffled: bool,
    note: &'static str,
}

impl ScrapeDrill {
    async fn run(&self) {
        let d = DrillServer::start("").await;
        let practice = practices(&d.logins)[1].clone();
        let uploader_role = if self.attacker_role == "nurse" {
            "clinician"
        } else {
            "nurse"
        };
        let uploader = d
            .login(
                &staff(&d.logins, &practice, uploader_role).username,
                address(1, 0, 9),
            )
            .await;
        let patients = patients_of(&d.logins, &practice);
        add_documents(&uploader, &patients, PAD_PER_PATIENT).await;
        let mut practice_docs = 0;
        for p in &patients {
            practice_docs += uploader.documents(p).await.len();
        }
        assert!(practice_docs as u64 > MAX_DOCUMENTS + 10);
        let decoys: HashSet<String> = d
            .canaries()
            .await
            .into_iter()
            .filter(|c| c.kind == "patient")
            .map(|c| c.id)
            .collect();

        let attacker = d
            .login(
                &staff(&d.logins, &practice, self.attacker_role).username,
                address(2, 0, 2),
            )
            .await;
        let account = account_of(&attacker).await;
        let scraper = Scraper {
            http: client_from(address(2, 0, 2)),
            bases: vec![d.base().to_owned()],
            token: attacker.token.clone(),
            surface: self.surface,
            concurrency: self.concurrency,
            skip: if self.skip_decoys {
                decoys
            } else {
                HashSet::new()
            },
            shuffle: self.shuffled.then(kit::seed),
        };
        let got = scraper.run().await;
        let alert = d.hook.containment_of(&account).await.is_some();
        let detector = detector_of(&d.overview().await, &account);
        report_scrape(
            self.n,
            self.name,
            &got,
            alert,
            detector.as_deref(),
            |extra| {
                extra.push(("practice_documents", practice_docs.to_string()));
                extra.push((
                    "surface",
                    match self.surface {
                        Surface::Api => "api".into(),
                        Surface::Pages => "pages".into(),
                    },
                ));
                extra.push(("concurrency", self.concurrency.to_string()));
                if let Some(seed) = scraper.shuffle {
                    extra.push(("seed", seed.to_string()));
                }
                extra.push(("note", self.note.to_owned()));
            },
        );
        assert_scrape_bounds(&got, alert);
    }
}

fn report_scrape(
    n: &'static str,
    name: &'static str,
    got: &Scraped,
    alert: bool,
    detector: Option<&str>,
    more: impl FnOnce(&mut Vec<(&'static str, String)>),
) {
    let mut extra = vec![
        ("detector", detector.unwrap_or("-").to_owned()),
        (
            "stopped_by",
            got.stopped_by.clone().unwrap_or_default().replace(' ', "_"),
        ),
        ("patients_found", got.patients_found.to_string()),
        ("requests", got.requests.to_string()),
        ("bytes", got.bytes.to_string()),
    ];
    more(&mut extra);
    Report {
        n,
        name,
        served: got.served,
        contained_after: got.stopped_after,
        alert: Some(alert),
        extra,
    }
    .print();
}

fn assert_scrape_bounds(got: &Scraped, alert: bool) {
    let after = got.stopped_after.expect("the scraper was never stopped");
    assert!(
        got.served <= MAX_DOCUMENTS,
        "{} documents served before containment",
        got.served
    );
    assert!(
        after.as_secs_f64() <= MAX_SECONDS,
        "contained only after {}",
        secs(after)
    );
    assert!(alert, "the alert did not reach the webhook");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drill_2_a_clinician_bulk_downloading_the_practice() {
    ScrapeDrill {
        n: "2",
        name: "clinician-bulk-download",
        attacker_role: "clinician",
        surface: Surface::Pages,
        concurrency: 4,
        skip_decoys: true,
        shuffled: false,
        note: "decoys_skipped_budget_alone",
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drill_2b_a_clinician_bulk_downloading_the_practice_decoys_and_all() {
    ScrapeDrill {
        n: "2b",
        name: "clinician-bulk-download-natural-walk",
        attacker_role: "clinician",
        surface: Surface::Pages,
        concurrency: 4,
        skip_decoys: false,
        shuffled: true,
        note: "every_patient_found_including_decoys_random_order",
    }
    .run()
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drill_3_a_practice_systems_api_token_scraping() {
    // There is no integration-client actor yet: the "practice system" is a staff
    // account's API session token (POST /api/v1/sessions), syncing in parallel.
    ScrapeDrill {
        n: "3",
        name: "api-token-scrape",
        attacker_role: "nurse",
        surface: Surface::Api,
        concurrency: 8,
        skip_decoys: true,
        shuffled: false,
        note: "staff_api_session_as_integration_decoys_skipped",
    }
    .run()
    .await;
}

// --- 4 -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drill_4_a_decoy_read_contains_on_the_first_read() {
    let d = DrillServer::start("").await;
    let decoys = d.canaries().await;
    let practices = practices(&d.logins);
    for practice in &practices {
        for kind in ["patient", "document"] {
            assert!(
                decoys
                    .iter()
                    .any(|c| c.kind == kind && &c.practice == practice),
                "practice {practice} has no decoy {kind}"
            );
        }
    }

    // A clinician opens a real document, then a decoy document of their practice.
    let practice = &practices[0];
    let decoy = decoys
        .iter()
        .find(|c| c.kind == "document" && &c.practice == practice)
        .unwrap();
    let clinician = d
        .login(
            &staff(&d.logins, practice, "clinician").username,
            address(2, 0, 4),
        )
        .await;
    let account = account_of(&clinician).await;
    let real_patient = &patients_of(&d.logins, practice)[0];
    let real = clinician.documents(real_patient).await;
    assert_eq!(read_status(&clinician, &real[0].id).await, 200);
    let started = Instant::now();
    let (status, body) = clinician
        .get_raw(&format!("/api/v1/documents/{}/content", decoy.id))
        .await
        .unwrap();
    let contained_after = started.elapsed();
    let served = u64::from(status == 200);
    let code: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(
        (status, code["code"].as_str()),
        (403, Some("account_frozen"))
    );
    assert_eq!(read_status(&clinician, &real[0].id).await, 401);
    let alert = d.hook.containment_of(&account).await;

    // Reception at another practice opens a decoy patient's header.
    let other = &practices[1];
    let decoy_patient = decoys
        .iter()
        .find(|c| c.kind == "patient" && &c.practice == other)
        .unwrap();
    let reception = d
        .login(
            &staff(&d.logins, other, "reception").username,
            address(2, 0, 5),
        )
        .await;
    let reception_account = account_of(&reception).await;
    let (status, _) = reception
        .get_raw(&format!("/api/v1/patients/{}", decoy_patient.id))
        .await
        .unwrap();
    assert_eq!(status, 403);
    assert_eq!(
        reception.get_raw("/api/v1/me").await.unwrap().0,
        401,
        "signed out"
    );
    let reception_alert = d.hook.containment_of(&reception_account).await.is_some();

    let o = d.overview().await;
    Report {
        n: "4",
        name: "canary-read",
        served,
        contained_after: Some(contained_after),
        alert: Some(alert.is_some() && reception_alert),
        extra: vec![
            ("reads_to_contain", "1".into()),
            ("decoys", decoys.len().to_string()),
            (
                "alert_after_s",
                alert.map_or_else(|| "-".into(), |at| secs(at.duration_since(started))),
            ),
            (
                "detectors",
                format!(
                    "{},{}",
                    detector_of(&o, &account).unwrap_or_default(),
                    detector_of(&o, &reception_account).unwrap_or_default()
                ),
            ),
        ],
    }
    .print();
    assert_eq!(served, 0);
    assert_eq!(detector_of(&o, &account).as_deref(), Some("canary"));
    assert_eq!(
        detector_of(&o, &reception_account).as_deref(),
        Some("canary")
    );
    assert!(
        alert.is_some() && reception_alert,
        "the alerts did not reach the webhook"
    );
}

// --- 5 -----------------------------------------------------------------------------

/// What the ordinary day did, and anything that went wrong for a legitimate user.
#[derive(Default)]
struct Day {
    requests: AtomicU64,
    served: AtomicU64,
    uploads: AtomicU64,
    unexpected: std::sync::Mutex<Vec<String>>,
}

impl Day {
    /// Sends a GET as `api` (with `query`), expecting 200; gives the body.
    async fn get(&self, api: &Api, path: &str, query: &[(&str, &str)]) -> Option<bytes::Bytes> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let response = api
            .http
            .get(format!("{}{path}", api.base))
            .query(query)
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        if status == 200 {
            Some(body)
        } else {
            self.unexpected.lock().unwrap().push(format!(
                "{status} for {path}: {}",
                String::from_utf8_lossy(&body)
            ));
            None
        }
    }

    async fn documents(&self, api: &Api, patient: &str) -> Vec<String> {
        let Some(body) = self
            .get(api, &format!("/api/v1/patients/{patient}/documents"), &[])
            .await
        else {
            return Vec::new();
        };
        serde_json::from_slice::<Vec<Value>>(&body)
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn read(&self, api: &Api, document: &str) {
        if self
            .get(api, &format!("/api/v1/documents/{document}/content"), &[])
            .await
            .is_some()
        {
            self.served.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A consultation: the patient's header, their documents, a few of them opened.
    async fn consult(&self, api: &Api, patient: &str, reads: usize) {
        self.get(api, &format!("/api/v1/patients/{patient}"), &[])
            .await;
        let docs = self.documents(api, patient).await;
        for doc in docs.iter().take(reads) {
            self.read(api, doc).await;
        }
    }

    /// Reception checks a patient in: finds them by name, sees what documents exist.
    async fn check_in(&self, api: &Api, family: &str, patient: &str) {
        let Some(body) = self.get(api, "/api/v1/patients", &[("q", family)]).await else {
            return;
        };
        let found: Vec<Value> = serde_json::from_slice(&body).unwrap();
        if found.iter().any(|p| p["id"] == patient) {
            self.documents(api, patient).await;
        } else {
            self.unexpected
                .lock()
                .unwrap()
                .push(format!("searching {family:?} did not find the patient"));
        }
    }

    /// A patient at home: their documents, each opened, and who has looked at them.
    async fn patient_visit(&self, api: &Api, patient: &str) {
        let docs = self.documents(api, patient).await;
        for doc in &docs {
            self.read(api, doc).await;
        }
        self.get(
            api,
            &format!("/api/v1/patients/{patient}/access-history"),
            &[],
        )
        .await;
    }

    /// The practice system pushes a lab result.
    async fn sync(&self, api: &Api, patient: &str) {
        let file = super::api::NewFile {
            title: "Full blood count",
            kind: Some("lab_report"),
            filename: "fbc.pdf",
            mime: "application/pdf",
            bytes: kit::pdf("lab result"),
        };
        self.requests.fetch_add(1, Ordering::SeqCst);
        let (status, body) = api.upload(patient, file).await.unwrap();
        if status == 201 {
            self.uploads.fetch_add(1, Ordering::SeqCst);
        } else {
            self.unexpected
                .lock()
                .unwrap()
                .push(format!("{status} for a sync upload: {body}"));
        }
    }
}

/// `count` visits spread evenly over the window, the first after `offset`.
fn schedule(window: Duration, count: usize, offset: Duration) -> Vec<Duration> {
    let spacing = window / u32::try_from(count.max(1)).unwrap();
    (0..count)
        .map(|k| offset + spacing * u32::try_from(k).unwrap())
        .collect()
}

struct Clinic {
    clinician: Api,
    nurse: Api,
    reception: Api,
    admin: Api,
    system: Api,
    /// (patient id, family name, their own session).
    patients: Vec<(String, String, Api)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drill_5_an_ordinary_day_contains_nobody() {
    let hours: usize = std::env::var("TIAKI_DRILL_HOURS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(3);
    // An hour of clinic in a minute: the guard's window is 60 s, and so is a drill hour.
    let window = Duration::from_secs(60);
    let d = DrillServer::start("window_seconds = 60").await;

    let mut clinics = Vec::new();
    for (i, practice) in practices(&d.logins).iter().enumerate() {
        let i = u8::try_from(i).unwrap() + 1;
        // Everyone at the practice works from the practice's one address.
        let at_practice = address(1, i, 1);
        let sign_in = |role: &'static str, from: IpAddr| {
            let username = staff(&d.logins, practice, role).username.clone();
            let d = &d;
            async move { d.login(&username, from).await }
        };
        let mut patients = Vec::new();
        for (k, l) in d.logins.patients_of(practice).iter().enumerate() {
            let from = address(2, i, u8::try_from(k).unwrap() + 1);
            let api = d.login(&l.username, from).await;
            patients.push((l.patient().to_owned(), l.family_name().to_owned(), api));
        }
        clinics.push(Arc::new(Clinic {
            clinician: sign_in("clinician", at_practice).await,
            nurse: sign_in("nurse", at_practice).await,
            reception: sign_in("reception", at_practice).await,
            admin: sign_in("practice_admin", at_practice).await,
            // The practice system's session: a nurse account's API token, from the
            // server room (there is no integration-client actor yet).
            system: sign_in("nurse", address(3, i, 1)).await,
            patients,
        }));
    }

    let day = Arc::new(Day::default());
    let started = Instant::now();
    for hour in 0..hours {
        let hour_start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (p, clinic) in clinics.iter().enumerate() {
            let roster = clinic.patients.len();
            // Each role works through its list, spread over the hour.
            let plans: [(&str, usize, usize, usize); 4] = [
                // (who, visits this hour, documents read per visit, roster offset)
                ("clinician", 8 + (hour + p) % 3, 3, hour * 10),
                ("nurse", 6, 2, hour * 10 + 5),
                ("reception", 15, 0, hour * 15),
                ("admin", 5, 0, hour * 5 + 3),
            ];
            for (r, (who, visits, reads, offset)) in plans.into_iter().enumerate() {
                let times = schedule(
                    window,
                    visits,
                    Duration::from_millis(300 * u64::try_from(r).unwrap()),
                );
                for (k, at) in times.into_iter().enumerate() {
                    let clinic = clinic.clone();
                    let day = day.clone();
                    tasks.spawn(async move {
                        tokio::time::sleep(at).await;
                        let (id, family, _) = &clinic.patients[(offset + k) % roster];
                        match who {
                            "clinician" => day.consult(&clinic.clinician, id, reads).await,
                            "nurse" => day.consult(&clinic.nurse, id, reads).await,
                            "reception" => day.check_in(&clinic.reception, family, id).await,
                            _ => {
                                day.get(&clinic.admin, "/api/v1/patients", &[("q", family)])
                                    .await;
                                day.get(&clinic.admin, &format!("/api/v1/patients/{id}"), &[])
                                    .await;
                            }
                        }
                    });
                }
            }
            // A third of the patients look at their documents from home.
            for (k, at) in schedule(window, roster / 3, Duration::from_millis(700))
                .into_iter()
                .enumerate()
            {
                let clinic = clinic.clone();
                let day = day.clone();
                let who = (hour * (roster / 3) + k) % roster;
                tasks.spawn(async move {
                    tokio::time::sleep(at).await;
                    let (id, _, api) = &clinic.patients[who];
                    day.patient_visit(api, id).await;
                });
            }
            // The practice system pushes a few results an hour.
            for (k, at) in schedule(window, 3, Duration::from_millis(1100))
                .into_iter()
                .enumerate()
            {
                let clinic = clinic.clone();
                let day = day.clone();
                let who = (hour * 3 + k) % roster;
                tasks.spawn(async move {
                    tokio::time::sleep(at).await;
                    let (id, _, _) = &clinic.patients[who];
                    day.sync(&clinic.system, id).await;
                });
            }
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        let left = window.saturating_sub(hour_start.elapsed());
        tokio::time::sleep(left).await;
    }

    let o = d.overview().await;
    let false_positives = containments(&o).len();
    let alerts = o["alerts"].as_array().unwrap();
    let warnings = alerts.iter().filter(|a| a["severity"] == "warning").count();
    let unexpected = day.unexpected.lock().unwrap().clone();
    Report {
        n: "5",
        name: "ordinary-day",
        served: day.served.load(Ordering::SeqCst),
        contained_after: None,
        alert: None,
        extra: vec![
            ("false_positives", false_positives.to_string()),
            ("soft_limit_warnings", warnings.to_string()),
            ("hooks_received", d.hook.count().to_string()),
            ("requests", day.requests.load(Ordering::SeqCst).to_string()),
            ("uploads", day.uploads.load(Ordering::SeqCst).to_string()),
            ("refused", unexpected.len().to_string()),
            ("hours", hours.to_string()),
            ("window_s", window.as_secs().to_string()),
            ("wall_s", secs(started.elapsed())),
        ],
    }
    .print();
    assert!(
        unexpected.is_empty(),
        "legitimate requests were refused: {unexpected:#?}"
    );
    assert_eq!(
        false_positives, 0,
        "an ordinary day contained someone: {o:#}"
    );
}

// --- 6 -----------------------------------------------------------------------------

/// A patient walking foreign document ids through `bases` in turn: how many probes
/// were answered before the session was stopped.
async fn probes_until_contained(
    http: &reqwest::Client,
    bases: &[String],
    token: &str,
    foreign: &[String],
) -> u64 {
    let mut probes = 0;
    for (n, id) in foreign.iter().enumerate() {
        let base = &bases[n % bases.len()];
        let status = http
            .get(format!("{base}/api/v1/documents/{id}/content"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        match status {
            404 => probes += 1,
            401 | 403 => return probes,
            other => panic!("a probe answered {other}"),
        }
    }
    panic!("never contained after {probes} probes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drill_6_a_scraper_alternating_between_two_nodes_is_contained_at_the_same_count() {
    let url = tiaki_store::testing::fresh_postgres_url().await.unwrap();
    let s3 = tiaki_store::testing::S3Server::start().await.unwrap();
    let s3_config = s3.config();
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let node_a = dir.path().join("node-a");
    let node_b = dir.path().join("node-b");
    let config = dir.path().join("tiaki.toml");
    {
        use secrecy::ExposeSecret as _;
        std::fs::write(
            &config,
            format!(
                "database_url = \"{url}\"\nkeyring = \"{}\"\n\n[s3]\nendpoint = \"{}\"\n\
                 bucket = \"{}\"\nregion = \"{}\"\naccess_key_id = \"{}\"\n\
                 secret_access_key = \"{}\"\nallow_http = true\n\n[core.guard]\n\
                 webhook_url = \"{}\"\n",
                dir.path().join("keyring.json").display(),
                s3_config.endpoint.as_deref().unwrap(),
                s3_config.bucket,
                s3_config.region,
                s3_config.access_key_id,
                s3_config.secret_access_key.expose_secret(),
                hook.url,
            ),
        )
        .unwrap();
    }
    // Seeded once, through the CLI, then served by two processes.
    let seed_args: Vec<std::ffi::OsString> = vec![
        "demo".into(),
        "--config".into(),
        config.clone().into_os_string(),
        "--data-dir".into(),
        node_a.clone().into_os_string(),
    ];
    let ran = tokio::task::spawn_blocking(move || run_tiaki(seed_args))
        .await
        .unwrap();
    assert!(ran.status.success(), "{}\n{}", ran.stdout, ran.stderr);
    let a = ServerOptions::new(&node_a)
        .demo()
        .arg("--config")
        .arg(&config)
        .start();
    let b = ServerOptions::new(&node_b)
        .demo()
        .arg("--config")
        .arg(&config)
        .start();
    let logins = DemoLogin::read(&node_a);
    let practices = practices(&logins);
    let (one_practice, two_practice) = (&practices[0], &practices[1]);
    let decoys: HashSet<String> = canaries(&[
        "--config".into(),
        config.clone().into_os_string(),
        "--data-dir".into(),
        node_a.clone().into_os_string(),
    ])
    .await
    .into_iter()
    .filter(|c| c.kind == "patient")
    .map(|c| c.id)
    .collect();
    for practice in [one_practice, two_practice] {
        let uploader = kit::login(
            &a.base,
            &logins,
            &staff(&logins, practice, "nurse").username,
            address(1, 0, 6),
        )
        .await;
        add_documents(&uploader, &patients_of(&logins, practice), PAD_PER_PATIENT).await;
    }

    let scrape = |practice: &String, bases: Vec<String>, from: IpAddr| {
        let username = staff(&logins, practice, "clinician").username.clone();
        let logins = &logins;
        let decoys = decoys.clone();
        async move {
            let attacker = kit::login(&bases[0], logins, &username, from).await;
            let account = account_of(&attacker).await;
            let got = Scraper {
                http: client_from(from),
                bases,
                token: attacker.token.clone(),
                surface: Surface::Api,
                // Requests go to the nodes in turn, several in flight: two nodes
                // counting the same actor at once must both see the sum.
                concurrency: 4,
                skip: decoys,
                shuffle: None,
            }
            .run()
            .await;
            (got, account)
        }
    };
    let (one, one_account) = scrape(one_practice, vec![a.base.clone()], address(2, 0, 6)).await;
    let (two, two_account) = scrape(
        two_practice,
        vec![a.base.clone(), b.base.clone()],
        address(2, 0, 7),
    )
    .await;
    let alert = hook.containment_of(&one_account).await.is_some()
        && hook.containment_of(&two_account).await.is_some();

    // Patients walking foreign ids (documents of the third practice, which no scraper
    // touched): one node, then alternating.
    let third = &practices[2];
    let setup = kit::login(
        &a.base,
        &logins,
        &staff(&logins, third, "clinician").username,
        address(1, 1, 1),
    )
    .await;
    let mut foreign = Vec::new();
    for p in patients_of(&logins, third).iter().take(3) {
        foreign.extend(setup.documents(p).await.into_iter().map(|doc| doc.id));
    }
    let mut probes = Vec::new();
    for (n, (practice, bases)) in [
        (one_practice, vec![a.base.clone()]),
        (two_practice, vec![a.base.clone(), b.base.clone()]),
    ]
    .into_iter()
    .enumerate()
    {
        let patient = logins.patients_of(practice)[0].clone();
        let from = address(2, 1, u8::try_from(n).unwrap() + 1);
        let attacker = kit::login(&bases[0], &logins, &patient.username, from).await;
        probes.push(
            probes_until_contained(&client_from(from), &bases, &attacker.token, &foreign).await,
        );
    }

    let overview =
        kit::overview(&kit::login(&b.base, &logins, "operator", address(9, 9, 9)).await).await;
    report_scrape(
        "6",
        "two-nodes-scrape",
        &two,
        alert,
        detector_of(&overview, &two_account).as_deref(),
        |extra| {
            extra.push(("one_node_served", one.served.to_string()));
            extra.push((
                "one_node_contained_after_s",
                one.stopped_after.map_or_else(|| "-".into(), secs),
            ));
            extra.push(("patient_probes_one_node", probes[0].to_string()));
            extra.push(("patient_probes_two_nodes", probes[1].to_string()));
            extra.push(("backend", "postgresql+s3".into()));
        },
    );
    drop((a, b, s3));
    let _ = tiaki_store::testing::drop_postgres_database(&url).await;

    assert!(one.stopped_after.is_some() && two.stopped_after.is_some());
    assert_eq!(
        two.served, one.served,
        "two nodes let {} documents out, one node {}",
        two.served, one.served
    );
    assert_scrape_bounds(&two, alert);
    assert_eq!(probes[1], probes[0], "patient probes: two nodes vs one");
    assert!(probes[0] <= 3);
}

// --- the console -------------------------------------------------------------------

/// Runs `tiaki guard ARGS… --data-dir … --config …` for a drill server.
async fn console(d: &DrillServer, args: &[&str]) -> super::server::Ran {
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
