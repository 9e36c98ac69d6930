//! The guard, as an attacker and an operator meet it through HTTP: a patient walking
//! other people's ids is contained at the third probe, a decoy read contains at once, a
//! clinician over budget is asked for a fresh second factor and then contained, the
//! documents module's kill switch closes it while the rest of the portal works, an
//! operator's release lets the person back in with a new sign-in only, every step is in
//! the audit log and reaches the alert webhook — on SQLite, and on PostgreSQL with the
//! counters shared in the database.

use super::harness::{Backend, Login, PASSWORD, World};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tiaki_core::CoreConfig;
use tiaki_core::guard::Limit;
use tiaki_domain::{AccountId, DocumentId};

mod operator;

/// The small clinician budget the budget tests use: a fresh factor is asked for after
/// the third document, the sixth contains.
const SOFT: u64 = 3;
const HARD: u64 = 6;

/// The status and error code (empty for a body that is not an API error) of a call.
async fn call(world: &World, method: Method, path: &str, login: &Login) -> (u16, String) {
    let response = world.api(method, path, Some(login)).send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

async fn get(world: &World, path: &str, login: &Login) -> (u16, String) {
    call(world, Method::GET, path, login).await
}

fn content(document: impl std::fmt::Display) -> String {
    format!("/api/v1/documents/{document}/content")
}

/// `POST /api/v1/sessions` with the password and a fresh recovery code: the status.
async fn api_sign_in(world: &World, username: &str) -> u16 {
    let code = world.recovery_code(username).await;
    world
        .api(Method::POST, "/api/v1/sessions", None)
        .json(&json!({ "username": username, "password": PASSWORD, "recovery_code": code }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `GET /api/v1/guard` as `operator`, which must answer 200.
async fn overview(world: &World, operator: &Login) -> Value {
    let response = world
        .api(Method::GET, "/api/v1/guard", Some(operator))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET /api/v1/guard as an operator");
    response.json().await.unwrap()
}

/// The containments of `login`'s account in an overview.
fn containments_of<'a>(overview: &'a Value, login: &Login) -> Vec<&'a Value> {
    let account = login.actor.account.to_string();
    overview["containments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["account"].as_str() == Some(account.as_str()))
        .collect()
}

/// The one active containment of `login`'s account; its detector must be `detector`,
/// and a critical alert must point at it.
fn active_containment(overview: &Value, login: &Login, detector: &str) -> String {
    let active: Vec<_> = containments_of(overview, login)
        .into_iter()
        .filter(|c| c["active"] == json!(true))
        .collect();
    assert_eq!(active.len(), 1, "one active containment: {overview:#}");
    let c = active[0];
    assert_eq!(c["detector"], detector, "{c:#}");
    assert_eq!(
        c["scope"].as_str().unwrap(),
        format!("actor:{}", login.actor.account.as_uuid())
    );
    assert!(!c["reason"].as_str().unwrap().is_empty(), "a reason: {c:#}");
    let id = c["id"].as_str().unwrap().to_owned();
    let alerted = overview["alerts"].as_array().unwrap().iter().any(|a| {
        a["containment"].as_str() == Some(id.as_str())
            && a["severity"] == "critical"
            && a["detector"] == detector
    });
    assert!(
        alerted,
        "a critical alert for containment {id}: {overview:#}"
    );
    id
}

/// The `what` of every audit event `actor` caused, as a privacy officer searches them.
async fn audited_actions(world: &World, actor: AccountId) -> Vec<String> {
    let privacy = world.login("privacy").await;
    let rows = world
        .get_json(
            &format!("/api/v1/audit/events?actor={actor}&limit=1000"),
            Some(&privacy),
        )
        .await;
    rows.as_array()
        .unwrap_or_else(|| panic!("audit search answered {rows}"))
        .iter()
        .map(|r| r["what"].as_str().unwrap().to_owned())
        .collect()
}

/// A patient reaches for two other patients' records and an id that does not exist:
/// nothing of theirs is served, the third probe contains, and the session is dead.
async fn patient_walk(world: &World) {
    let a = world.login("patient.a").await;
    let operator = world.login("operator").await;
    assert_eq!(get(world, &content(world.doc_a.id), &a).await.0, 200);

    let probes = [
        // Another practice's patient's document.
        content(world.doc_c.id),
        // A neighbour at the same practice.
        format!("/api/v1/patients/{}/documents", world.patient_b),
        // An id that does not exist.
        content(DocumentId::new()),
    ];
    for (n, path) in probes.iter().enumerate() {
        assert_eq!(
            get(world, path, &a).await.0,
            404,
            "probe {} ({path}) must look like any miss",
            n + 1
        );
    }
    // Contained at the third: every session revoked, the account frozen.
    assert_eq!(get(world, &content(world.doc_a.id), &a).await.0, 401);
    assert_eq!(get(world, "/api/v1/me", &a).await.0, 401);
    assert_eq!(api_sign_in(world, "patient.a").await, 401, "frozen");

    let o = overview(world, &operator).await;
    active_containment(&o, &a, "breadth");
    // Another patient is untouched.
    let b = world.login("patient.b").await;
    assert_eq!(get(world, "/api/v1/me", &b).await.0, 200);
}

#[tokio::test]
async fn a_patient_walking_other_patients_ids_is_contained_at_the_third_probe() {
    let world = World::start_guarded(Backend::Sqlite, CoreConfig::default()).await;
    patient_walk(&world).await;
    // The containment is in the audit log, under the contained account.
    let patient_a = world
        .store
        .account_by_username("patient.a")
        .await
        .unwrap()
        .unwrap();
    let actions = audited_actions(&world, patient_a.id).await;
    assert!(
        actions.iter().any(|w| w == "guard.contain"),
        "the containment is audited: {actions:?}"
    );
}

#[tokio::test]
async fn two_probes_are_not_enough_to_contain_a_patient() {
    let world = World::start_guarded(Backend::Sqlite, CoreConfig::default()).await;
    let a = world.login("patient.a").await;
    for path in [
        content(world.doc_c.id),
        format!("/api/v1/patients/{}/documents", world.patient_b),
    ] {
        assert_eq!(get(&world, &path, &a).await.0, 404);
    }
    // A mistyped link or two is not an attack: the patient carries on.
    for _ in 0..5 {
        assert_eq!(get(&world, &content(world.doc_a.id), &a).await.0, 200);
    }
    let operator = world.login("operator").await;
    assert!(containments_of(&overview(&world, &operator).await, &a).is_empty());
}

#[tokio::test]
async fn a_decoy_read_contains_staff_on_the_first_read() {
    // `start` relaxes only the probe limits: decoys still apply.
    let world = World::start().await;
    let operator = world.login("operator").await;

    // A clinician who opens a real document, then the decoy document.
    let clinician = world.login("clinician.x").await;
    assert_eq!(
        get(&world, &content(world.doc_a.id), &clinician).await.0,
        200
    );
    assert_eq!(
        get(&world, &content(world.canary_doc.id), &clinician).await,
        (403, "account_frozen".to_owned()),
        "the decoy's content is never served"
    );
    assert_eq!(
        get(&world, &content(world.doc_a.id), &clinician).await.0,
        401
    );

    // A nurse who lists the decoy patient's documents.
    let nurse = world.login("nurse.x").await;
    let list = format!("/api/v1/patients/{}/documents", world.canary_patient);
    assert_eq!(
        get(&world, &list, &nurse).await,
        (403, "account_frozen".to_owned())
    );
    assert_eq!(get(&world, "/api/v1/me", &nurse).await.0, 401);

    // Reception who opens the decoy patient's header.
    let reception = world.login("reception.x").await;
    let header = format!("/api/v1/patients/{}", world.canary_patient);
    assert_eq!(
        get(&world, &header, &reception).await,
        (403, "account_frozen".to_owned())
    );
    assert_eq!(get(&world, "/api/v1/me", &reception).await.0, 401);

    let o = overview(&world, &operator).await;
    for login in [&clinician, &nurse, &reception] {
        active_containment(&o, login, "canary");
    }
    // Nobody else: the other clinician works on.
    let other = world.login("clinician.y").await;
    assert_eq!(get(&world, &content(world.doc_c.id), &other).await.0, 200);
    assert!(containments_of(&o, &other).is_empty());
}

fn small_budget(mut config: CoreConfig) -> CoreConfig {
    config.guard.clinical_staff.documents = Limit::new(SOFT, HARD);
    // A day-long window, so the test never straddles a window's edge.
    config.guard.window_seconds = 86_400;
    config
}

/// Makes a session's second factor ten minutes old, as if it had been signed in for
/// a while (SQLite only).
async fn age_second_factor(world: &World, login: &Login) {
    let pool = world.sqlite().await;
    let then =
        (time::OffsetDateTime::now_utc() - time::Duration::minutes(10)).unix_timestamp_nanos();
    let then = i64::try_from(then).unwrap();
    let done =
        sqlx::query("UPDATE sessions SET mfa_verified_at_ns = $1, factor_at_ns = $1 WHERE id = $2")
            .bind(then)
            .bind(login.actor.session.as_uuid())
            .execute(&pool)
            .await
            .unwrap();
    assert_eq!(done.rows_affected(), 1);
    pool.close().await;
}

/// Steps the session up with a fresh recovery code (staff sign in with passkeys or
/// recovery codes unless TOTP is allowed them); gives the session's new token.
async fn step_up(world: &World, login: &Login, username: &str) -> Login {
    let response = world
        .api(
            Method::POST,
            "/api/v1/sessions/current/step-up",
            Some(login),
        )
        .json(&json!({ "recovery_code": world.recovery_code(username).await }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(
        (200..300).contains(&status),
        "step-up answered {status}: {body}"
    );
    let stepped = Login {
        token: body["token"].as_str().unwrap().to_owned(),
        ..login.clone()
    };
    // The old token died with the step-up.
    assert_eq!(get(world, "/api/v1/me", login).await.0, 401);
    stepped
}

#[tokio::test]
async fn a_clinician_over_budget_is_asked_to_step_up_and_then_contained() {
    let world = World::start_with(Backend::Sqlite, small_budget(CoreConfig::default())).await;
    let operator = world.login("operator").await;
    let mut clinician = world.login("clinician.x").await;
    let doc = content(world.doc_a.id);

    for n in 1..=SOFT {
        assert_eq!(get(&world, &doc, &clinician).await.0, 200, "read {n}");
    }
    // Past the soft limit a second factor older than the step-up window is not enough.
    age_second_factor(&world, &clinician).await;
    assert_eq!(
        get(&world, &doc, &clinician).await,
        (403, "step_up_required".to_owned())
    );
    // The rest of the portal still answers; only reads wait for the factor.
    assert_eq!(get(&world, "/api/v1/me", &clinician).await.0, 200);
    let warned = overview(&world, &operator).await["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| {
            a["severity"] == "warning"
                && a["detector"] == "budget.documents"
                && a["account"].as_str() == Some(clinician.actor.account.to_string().as_str())
        });
    assert!(warned, "crossing the soft limit raises a warning");

    clinician = step_up(&world, &clinician, "clinician.x").await;
    let mut served = SOFT;
    let mut frozen = false;
    for _ in 0..=HARD {
        match get(&world, &doc, &clinician).await {
            (200, _) => served += 1,
            (403, code) if code == "account_frozen" => {
                frozen = true;
                break;
            }
            other => panic!("after the step-up a read answered {other:?}"),
        }
    }
    assert!(frozen, "the hard limit contains");
    assert!(
        served > SOFT && served < HARD,
        "{served} documents served: the step-up lets reads go on, the hard limit ({HARD}) \
         stops them"
    );
    assert_eq!(get(&world, "/api/v1/me", &clinician).await.0, 401);
    active_containment(
        &overview(&world, &operator).await,
        &clinician,
        "budget.documents",
    );
}

/// Reads one document as a freshly signed-in clinician until the budget contains;
/// gives how many reads were served.
async fn budget_walk(world: &World) -> u64 {
    let operator = world.login("operator").await;
    let clinician = world.login("clinician.x").await;
    let doc = content(world.doc_a.id);
    let mut served = 0;
    loop {
        match get(world, &doc, &clinician).await {
            (200, _) => served += 1,
            (403, code) if code == "account_frozen" => break,
            other => panic!("read {} answered {other:?}", served + 1),
        }
        assert!(served < 100, "never contained");
    }
    assert_eq!(get(world, "/api/v1/me", &clinician).await.0, 401);
    active_containment(
        &overview(world, &operator).await,
        &clinician,
        "budget.documents",
    );
    served
}

#[tokio::test]
async fn a_freshly_signed_in_clinician_is_contained_at_the_hard_limit() {
    // Within the step-up window the soft limit asks nothing more; the hard one holds.
    let world = World::start_with(Backend::Sqlite, small_budget(CoreConfig::default())).await;
    assert_eq!(budget_walk(&world).await, HARD - 1);
}

#[tokio::test]
async fn the_same_counts_hold_on_postgresql_with_shared_counters() {
    let mut config = small_budget(CoreConfig::default());
    config.guard.shared_counters = Some(true);
    let world = World::start_guarded(Backend::PostgresS3, config).await;
    patient_walk(&world).await;
    assert_eq!(budget_walk(&world).await, HARD - 1);
}

async fn set_module(world: &World, login: &Login, state: &str, reason: &str) -> (u16, String) {
    let response = world
        .api(Method::PUT, "/api/v1/guard/modules/documents", Some(login))
        .json(&json!({ "state": state, "reason": reason }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// A webhook receiver on a loopback port: keeps every JSON body POSTed to `/hook`.
struct Hook {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Hook {
    async fn start() -> Self {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let kept = kept.clone();
                async move {
                    kept.lock().unwrap().push(body);
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{addr}/hook"),
            bodies,
        }
    }

    /// The first body `pick` accepts, waiting up to ten seconds for it.
    async fn wait_for(&self, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(found) = self.bodies.lock().unwrap().iter().find(|b| pick(b)) {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no such alert reached the webhook; it got {:#?}",
                self.bodies.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn alerts_reach_the_webhook_with_ids_and_figures_only() {
    let hook = Hook::start().await;
    let mut config = CoreConfig::default();
    config.guard.webhook_url = Some(hook.url.clone());
    let world = World::start_with(Backend::Sqlite, config).await;
    let operator = world.login("operator").await;
    let clinician = world.login("clinician.x").await;
    assert_eq!(
        get(&world, &content(world.canary_doc.id), &clinician)
            .await
            .0,
        403
    );
    let id = active_containment(&overview(&world, &operator).await, &clinician, "canary");

    let account = clinician.actor.account.to_string();
    let alert = hook
        .wait_for(|b| b["containment"].as_str() == Some(id.as_str()))
        .await;
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["detector"], "canary");
    assert_eq!(alert["account"], account.as_str());
    assert_eq!(
        alert["scope"].as_str().unwrap(),
        format!("actor:{}", clinician.actor.account.as_uuid())
    );
    assert!(alert["id"].is_string() && alert["at"].is_string());
    let text = alert.to_string();
    for name in ["Mere", "Tawhiri", "Aroha", "DECOY", "Referral"] {
        assert!(!text.contains(name), "{name} in the alert: {text}");
    }

    // The kill switch alerts too.
    assert_eq!(
        set_module(&world, &operator, "read_only", "drill").await.0,
        204
    );
    let switch = hook.wait_for(|b| b["detector"] == "kill_switch").await;
    assert_eq!(switch["scope"], "module:documents");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_the_security_mailbox_with_ids_and_figures_only() {
    let outbox = tempfile::TempDir::new().unwrap();
    let mut config = CoreConfig::default();
    config.mail.outbox_dir = Some(outbox.path().to_owned());
    config.guard.alert_email = Some("security@practice.example".to_owned());
    let world = World::start_with(Backend::Sqlite, config).await;
    let clinician = world.login("clinician.x").await;
    assert_eq!(
        get(&world, &content(world.canary_doc.id), &clinician)
            .await
            .0,
        403
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mail = loop {
        let found = std::fs::read_dir(outbox.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .find(|m| m.contains("security@practice.example") && m.contains("[Tiaki guard]"));
        if let Some(mail) = found {
            break mail;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no guard alert email in the outbox"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(mail.contains("critical canary"), "{mail}");
    assert!(
        mail.contains(&clinician.actor.account.as_uuid().to_string()),
        "the email names the contained account by id"
    );
    for name in ["Mere", "Tawhiri", "DECOY", "Referral"] {
        assert!(!mail.contains(name), "{name} in the alert email");
    }
}
