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

mod console;
mod kit;
mod ordinary_day;
mod scraper;
mod two_nodes;

use super::api::Api;
use super::server::{DemoLogin, Logins as _};
use kit::{
    DrillServer, Report, account_of, add_documents, address, client_from, detector_of, patients_of,
    secs,
};
use scraper::{Scraped, Scraper, Surface};
use serde_json::Value;
use std::collections::HashSet;
use std::time::Instant;

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
        let attack = Scraper {
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
            shuffle: self.shuffled.then(scraper::seed),
        };
        let got = attack.run().await;
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
                if let Some(seed) = attack.shuffle {
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
