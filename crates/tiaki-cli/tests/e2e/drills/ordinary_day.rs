//! Drill 5: an ordinary day at three practices, an hour of clinic compressed into a
//! minute (`window_seconds = 60`), must contain nobody.

use super::kit::{self, DrillServer, Report, address, containments, secs};
use super::{practices, staff};
use crate::e2e::api::Api;
use crate::e2e::server::Logins as _;
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
        let file = crate::e2e::api::NewFile {
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
