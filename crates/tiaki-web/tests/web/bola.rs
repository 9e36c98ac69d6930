//! The BOLA matrix: every route of the real router × every role × every verb, against
//! the committed expectations in `tests/bola.tsv`. An unexpected allow fails, a route
//! missing from the table fails, and a refused object answers exactly like a missing
//! one. Regenerate the table only after reviewing a policy change:
//! `TIAKI_BOLA_WRITE=1 cargo test -p tiaki-web --test web bola` (then read the diff).

use super::harness::{Login, PASSWORD, PNG, ProxyTargets, World};
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION};
use std::collections::{BTreeMap, BTreeSet};
use tiaki_web::routes::{ROUTES, RouteSpec, Surface};

const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bola.tsv");

/// The roles of the matrix.
const ROLES: [(&str, Option<&str>); 19] = [
    ("anonymous", None),
    ("patient_a", Some("patient.a")),
    ("patient_b", Some("patient.b")),
    ("patient_other_practice", Some("patient.c")),
    ("clinician_x", Some("clinician.x")),
    ("nurse_x", Some("nurse.x")),
    ("reception_x", Some("reception.x")),
    ("practice_admin_x", Some("admin.x")),
    ("clinician_y", Some("clinician.y")),
    ("platform_admin", Some("operator")),
    ("privacy_officer", Some("privacy")),
    // Patient A's proxies and guardian (`World::add_proxies`): documents to act,
    // documents to see, expired, revoked, only appointments, and a guardian.
    ("proxy_live", Some("proxy.live")),
    ("proxy_read_only", Some("proxy.reader")),
    ("proxy_expired", Some("proxy.expired")),
    ("proxy_revoked", Some("proxy.revoked")),
    ("proxy_out_of_scope", Some("proxy.scoped")),
    ("guardian", Some("guardian")),
    ("logged_out", Some("patient.a")),
    // Patient A's right password and nothing more: it must reach no data.
    ("password_only", Some("patient.a")),
];

/// Which object the ids in a path name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    /// Patient A and A's document.
    PatientA,
    /// Fresh random ids that exist nowhere.
    Missing,
    /// Not ids at all.
    Malformed,
}

struct Observed {
    outcome: String,
    body: String,
}

/// Facts about patient A's part of the world the paths need.
struct Known {
    /// An audit event about patient A (the upload of A's document).
    access_id: String,
    /// The size of a signed checkpoint.
    checkpoint: u64,
    /// Who holds the grants on patient A that the `{grant_id}` routes end.
    proxies: ProxyTargets,
}

fn concrete_path(
    world: &World,
    known: &Known,
    spec: &RouteSpec,
    ids: Ids,
    grant: Option<tiaki_domain::ProxyGrantId>,
) -> String {
    let (patient, document, access) = match ids {
        Ids::PatientA => (
            world.patient_a.to_string(),
            world.doc_a.id.to_string(),
            known.access_id.clone(),
        ),
        Ids::Missing => (
            tiaki_domain::PatientId::new().to_string(),
            tiaki_domain::DocumentId::new().to_string(),
            tiaki_domain::AccessId::new().to_string(),
        ),
        Ids::Malformed => (
            "not-an-id".to_owned(),
            "1%20OR%201=1".to_owned(),
            "%27--".to_owned(),
        ),
    };
    let path = spec
        .path
        .replace("{patient_id}", &patient)
        .replace("{document_id}", &document)
        .replace("{access_id}", &access)
        .replace("{session_id}", &session_path_id(world, ids))
        .replace("{grant_id}", &grant_path_id(grant, ids))
        // Nobody in the world has a passkey or a trusted device: these name none.
        .replace("{passkey_id}", &other_id(ids))
        .replace("{device_id}", &other_id(ids))
        // No containment exists in the world; the guard's routes are decided before
        // anything is looked up, so a made-up id shows who gets past the policy.
        .replace("{containment_id}", &other_id(ids))
        .replace(
            "{module}",
            match ids {
                Ids::PatientA => "documents",
                Ids::Missing => "no-such-module",
                Ids::Malformed => "%27--",
            },
        );
    match spec.path {
        "/api/v1/patients" | "/patients" => format!("{path}?q=Ngata"),
        "/api/v1/audit/consistency" => format!("{path}?old=0&new={}", known.checkpoint),
        _ => path,
    }
}

/// The `{session_id}` of a path: a session of patient A's that nothing else uses.
fn session_path_id(world: &World, ids: Ids) -> String {
    match ids {
        Ids::PatientA => world.target_session.to_string(),
        Ids::Missing => tiaki_domain::SessionId::new().to_string(),
        Ids::Malformed => "not-an-id".to_owned(),
    }
}

/// The `{grant_id}` of a path: the grant made for this request.
fn grant_path_id(grant: Option<tiaki_domain::ProxyGrantId>, ids: Ids) -> String {
    match (ids, grant) {
        (Ids::PatientA, Some(grant)) => grant.to_string(),
        (Ids::Malformed, _) => "not-an-id".to_owned(),
        _ => tiaki_domain::ProxyGrantId::new().to_string(),
    }
}

/// For a `{grant_id}` route, a new grant on patient A of the kind the route ends, so
/// that every role meets a grant still in force (one ended by an earlier role would
/// answer 404 whoever asked).
async fn grant_for(
    world: &World,
    known: &Known,
    spec: &RouteSpec,
) -> Option<tiaki_domain::ProxyGrantId> {
    if !spec.path.contains("{grant_id}") {
        return None;
    }
    let kind = if spec.path.contains("/guardians/") {
        tiaki_domain::ProxyKind::Guardian
    } else {
        tiaki_domain::ProxyKind::Proxy
    };
    Some(world.grant_in_force(known.proxies, kind).await)
}

/// A `{passkey_id}`, `{device_id}` or `{containment_id}`: a fresh id, or not an id.
fn other_id(ids: Ids) -> String {
    match ids {
        Ids::PatientA | Ids::Missing => uuid::Uuid::now_v7().to_string(),
        Ids::Malformed => "not-an-id".to_owned(),
    }
}

/// Routes that change a factor: they end every other session of the account, so the
/// matrix signs everyone in again after them.
const FACTOR_CHANGES: [&str; 1] = ["/api/v1/account/recovery-codes"];

/// A session for the role; destructive routes (sign-out) get a fresh one.
async fn session_for(
    world: &World,
    role: &str,
    username: Option<&str>,
    fresh: bool,
    cache: &BTreeMap<String, Login>,
) -> Option<Login> {
    let username = username?;
    if role == "password_only" {
        // A fresh password-only session each time: presenting a code ends it.
        let pending = world.pending(username).await;
        let mut actor = world.login(username).await.actor;
        actor.session = pending.session;
        return Some(Login {
            actor,
            token: pending.token,
            csrf: pending.csrf,
        });
    }
    if role == "logged_out" {
        let login = world.login(username).await;
        world
            .core
            .logout(&login.actor, &Default::default())
            .await
            .unwrap();
        return Some(login);
    }
    if fresh {
        return Some(world.login(username).await);
    }
    cache.get(role).cloned()
}

fn in_a_month() -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(30))
        .date()
        .to_string()
}

async fn request(
    world: &World,
    spec: &RouteSpec,
    method: &Method,
    path: &str,
    login: Option<&Login>,
) -> Observed {
    let is_api = spec.path.starts_with("/api/") || spec.surface == Surface::Api;
    let mut builder = if is_api {
        world.api(method.clone(), path, login)
    } else {
        world.page(method.clone(), path, login)
    };
    let csrf = login.map(|l| l.csrf.clone()).unwrap_or_default();
    builder = match (method.as_str(), spec.path) {
        ("POST", "/api/v1/sessions") => builder.json(&serde_json::json!({
            "username": "patient.a",
            "password": PASSWORD,
            "recovery_code": world.recovery_code("patient.a").await,
        })),
        ("POST", "/login/second-factor") => builder.form(&[
            ("csrf", csrf),
            ("code", world.recovery_code("patient.a").await),
        ]),
        ("POST", "/login/second-factor/enrol") => {
            builder.form(&[("csrf", csrf), ("code", "000000".to_owned())])
        }
        (
            "POST",
            "/account/sessions/{session_id}/revoke"
            | "/account/sessions/revoke-others"
            | "/account/devices/{device_id}/revoke"
            | "/account/passkeys/{passkey_id}/remove",
        ) => builder.form(&[("csrf", csrf)]),
        ("POST", "/api/v1/patients/{patient_id}/documents") => builder.multipart(
            World::upload_form("Matrix upload", "m.png", "image/png", PNG.to_vec()),
        ),
        ("POST", "/patients/{patient_id}/documents") => builder.multipart(
            reqwest::multipart::Form::new()
                .text("csrf", csrf)
                .text("title", "Matrix upload")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(PNG.to_vec())
                        .file_name("m.png")
                        .mime_str("image/png")
                        .unwrap(),
                ),
        ),
        // Grants name an account that does not exist: a role the policy lets through
        // gets a 400 and changes nothing, so later cells meet the same world.
        ("POST", "/api/v1/patients/{patient_id}/proxies") => builder.json(&serde_json::json!({
            "username": "nobody.at.all",
            "scopes": { "documents": "read" },
            "expires_on": in_a_month(),
        })),
        ("POST", "/api/v1/patients/{patient_id}/guardians") => {
            builder.json(&serde_json::json!({ "username": "nobody.at.all" }))
        }
        ("POST", "/patients/{patient_id}/proxies") => builder.form(&[
            ("csrf", csrf),
            ("username", "nobody.at.all".to_owned()),
            ("documents", "read".to_owned()),
            ("expires_on", in_a_month()),
        ]),
        ("POST", "/patients/{patient_id}/guardians") => {
            builder.form(&[("csrf", csrf), ("username", "nobody.at.all".to_owned())])
        }
        (
            "POST",
            "/patients/{patient_id}/proxies/{grant_id}/revoke"
            | "/patients/{patient_id}/guardians/{grant_id}/end",
        ) => builder.form(&[("csrf", csrf)]),
        // Email, passwords, invitations: bodies that reach the decision but change
        // nothing (patient A is registered; the new password is too short).
        ("POST", "/api/v1/patients/{patient_id}/invitations") => {
            builder.json(&serde_json::json!({ "email": "matrix@example.test" }))
        }
        ("POST", "/patients/{patient_id}/invitation") => {
            builder.form(&[("csrf", csrf), ("email", "matrix@example.test".to_owned())])
        }
        ("POST", "/api/v1/account/password") => builder.json(&serde_json::json!({
            "current_password": PASSWORD, "totp": "000000", "new_password": "short",
        })),
        ("POST", "/account/password") => builder.form(&[
            ("csrf", csrf),
            ("current_password", PASSWORD.to_owned()),
            ("code", "000000".to_owned()),
            ("new_password", "short".to_owned()),
            ("confirm", "short".to_owned()),
        ]),
        ("POST", "/api/v1/account/email") => {
            builder.json(&serde_json::json!({ "address": "not an address" }))
        }
        ("POST", "/account/email") => {
            builder.form(&[("csrf", csrf), ("address", "not an address".to_owned())])
        }
        ("POST", "/api/v1/password-resets") => {
            builder.json(&serde_json::json!({ "username_or_email": "nobody.in.particular" }))
        }
        ("POST", "/api/v1/password-resets/complete") => builder.json(
            &serde_json::json!({ "token": "not-a-token", "password": "a long enough passphrase" }),
        ),
        ("POST", "/api/v1/account/email/verify") => {
            builder.json(&serde_json::json!({ "token": "not-a-token" }))
        }
        // Public forms without their double-submit cookie: refused before anything.
        ("POST", "/password-reset" | "/password-reset/complete" | "/register" | "/account/email/verify") => {
            builder.form(&[
                ("csrf", "matrix".to_owned()),
                ("username_or_email", "patient.a".to_owned()),
                ("token", "not-a-token".to_owned()),
                ("username", "matrix.user".to_owned()),
                ("password", "a long enough passphrase".to_owned()),
                ("confirm", "a long enough passphrase".to_owned()),
            ])
        }
        ("POST", "/api/v1/registrations") => builder.json(&serde_json::json!({
            "invitation": "not-a-token", "username": "matrix.user", "password": "a long enough passphrase",
        })),
        ("POST", "/logout") => builder.form(&[("csrf", csrf)]),
        ("POST", "/documents/{document_id}/retrieval-request") => {
            builder.form(&[("csrf", csrf)])
        }
        // An empty reason: an operator gets past the policy to a 400, anyone else a 404,
        // and nothing is contained or switched in the middle of the matrix.
        ("POST", "/api/v1/guard/containments") => builder.json(&serde_json::json!({
            "account_id": world.patient_a_account.to_string(), "reason": ""
        })),
        ("POST", "/api/v1/guard/containments/{containment_id}/release") => {
            builder.json(&serde_json::json!({ "reason": "" }))
        }
        ("PUT", "/api/v1/guard/modules/{module}") => {
            builder.json(&serde_json::json!({ "state": "closed", "reason": "" }))
        }
        ("POST", "/operator/guard/contain") => builder.form(&[
            ("csrf", csrf),
            ("account_id", world.patient_a_account.to_string()),
            ("reason", String::new()),
        ]),
        ("POST", "/operator/guard/containments/{containment_id}/release") => {
            builder.form(&[("csrf", csrf), ("reason", String::new())])
        }
        ("POST", "/operator/guard/modules/{module}") => builder.form(&[
            ("csrf", csrf),
            ("state", "closed".to_owned()),
            ("reason", String::new()),
        ]),
        ("POST", "/login") => {
            let form = world.get("/login").send().await.unwrap();
            let cookie = form
                .headers()
                .get_all(reqwest::header::SET_COOKIE)
                .iter()
                .find_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
                .unwrap();
            let token = cookie.split_once('=').unwrap().1.to_owned();
            builder.header(COOKIE, cookie).form(&[
                ("csrf", token.as_str()),
                ("username", "patient.a"),
                ("password", PASSWORD),
            ])
        }
        _ => builder,
    };
    let response = builder.send().await.unwrap();
    let status = response.status();
    let outcome = if status.is_redirection() {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if location.starts_with("/login") {
            "303-login".to_owned()
        } else {
            status.as_u16().to_string()
        }
    } else {
        status.as_u16().to_string()
    };
    Observed {
        outcome,
        body: response.text().await.unwrap_or_default(),
    }
}

#[tokio::test]
async fn every_route_every_role_every_verb_matches_the_committed_table() {
    let mut world = World::start().await;
    let proxies = world.add_proxies().await;
    let mut cache = BTreeMap::new();
    for (role, username) in ROLES {
        if let (Some(u), false) = (username, role == "logged_out") {
            cache.insert(role.to_owned(), world.login(u).await);
        }
    }

    let history = world
        .store
        .audit_events_of_patient(world.patient_a, 1000)
        .await
        .unwrap();
    let access_id = history
        .iter()
        .map(|(_, e)| e)
        .find(|e| e.action == "document.upload" && e.document == Some(world.doc_a.id))
        .unwrap()
        .id
        .to_string();
    let checkpoint = world.core.transparency().checkpoint().await.unwrap().size;
    let known = Known {
        access_id,
        checkpoint,
        proxies,
    };

    let mut observed = BTreeMap::new();
    let mut not_found_bodies: BTreeMap<bool, BTreeSet<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    for spec in ROUTES {
        let method: Method = spec.method.parse().unwrap();
        // Sign-out ends the session, and granting access needs a second factor from
        // the last few minutes: both get a fresh sign-in.
        let destructive = matches!(spec.path, "/logout" | "/api/v1/sessions/current")
            || FACTOR_CHANGES.contains(&spec.path)
            || (spec.method == "POST"
                && matches!(
                    spec.path,
                    "/api/v1/patients/{patient_id}/proxies"
                        | "/api/v1/patients/{patient_id}/guardians"
                        | "/patients/{patient_id}/proxies"
                        | "/patients/{patient_id}/guardians"
                ));
        let has_ids = spec.path.contains('{');
        for (role, username) in ROLES {
            let login = session_for(&world, role, username, destructive, &cache).await;
            let grant = grant_for(&world, &known, spec).await;
            let path = concrete_path(&world, &known, spec, Ids::PatientA, grant);
            let seen = request(&world, spec, &method, &path, login.as_ref()).await;
            let is_api = spec.path.starts_with("/api/");
            if seen.outcome == "404" {
                not_found_bodies
                    .entry(is_api)
                    .or_default()
                    .insert(seen.body.clone());
            }
            observed.insert(
                format!("{}\t{}\t{role}", spec.method, spec.path),
                seen.outcome.clone(),
            );

            // Missing and malformed ids answer exactly like a refusal.
            // (Roles that are not signed in are sent to sign in, ids or no ids.)
            if has_ids && login.is_some() && !matches!(role, "logged_out" | "password_only") {
                for ids in [Ids::Missing, Ids::Malformed] {
                    let login = session_for(&world, role, username, destructive, &cache).await;
                    let path = concrete_path(&world, &known, spec, ids, None);
                    let miss = request(&world, spec, &method, &path, login.as_ref()).await;
                    if miss.outcome != "404" {
                        failures.push(format!(
                            "{} {path} as {role}: {ids:?} ids answered {}",
                            spec.method, miss.outcome
                        ));
                    }
                    not_found_bodies
                        .entry(is_api)
                        .or_default()
                        .insert(miss.body);
                }
            }
        }
        if FACTOR_CHANGES.contains(&spec.path) {
            for (role, username) in ROLES {
                if let (Some(u), false) = (username, role == "logged_out") {
                    cache.insert(role.to_owned(), world.login(u).await);
                }
            }
        }
    }

    // Every other verb on every path is refused without reaching a handler.
    let by_path: BTreeMap<&str, BTreeSet<&str>> =
        ROUTES.iter().fold(BTreeMap::new(), |mut m, r| {
            m.entry(r.path).or_default().insert(r.method);
            m
        });
    for (path, methods) in &by_path {
        for verb in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if methods.contains(verb) {
                continue;
            }
            for role in ["clinician_x", "patient_a"] {
                let login = cache.get(role);
                let concrete = path
                    .replace("{patient_id}", &world.patient_a.to_string())
                    .replace("{document_id}", &world.doc_a.id.to_string());
                let response = world
                    .api(verb.parse().unwrap(), &concrete, login)
                    .header(
                        COOKIE,
                        format!("__Host-tiaki_session={}", login.unwrap().token),
                    )
                    .send()
                    .await
                    .unwrap();
                if !matches!(response.status().as_u16(), 404 | 405) {
                    failures.push(format!(
                        "{verb} {path} as {role} answered {}",
                        response.status()
                    ));
                }
            }
        }
    }

    for (is_api, bodies) in &not_found_bodies {
        if bodies.len() != 1 {
            failures.push(format!(
                "every 404 (api={is_api}) must have the same body, saw {bodies:#?}"
            ));
        }
    }

    let actual: String = observed
        .iter()
        .map(|(k, v)| format!("{k}\t{v}\n"))
        .collect();
    if std::env::var("TIAKI_BOLA_WRITE").is_ok() {
        let header = "# method\tpath\trole\texpected (status; 303-login = sent to sign in)\n";
        std::fs::write(TABLE, format!("{header}{actual}")).unwrap();
    }
    let expected: BTreeMap<String, String> = std::fs::read_to_string(TABLE)
        .unwrap_or_else(|_| panic!("{TABLE} is missing"))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once('\t').unwrap();
            (key.to_owned(), value.to_owned())
        })
        .collect();
    for (key, outcome) in &observed {
        match expected.get(key) {
            None => failures.push(format!("no expectation for {key} (observed {outcome})")),
            Some(want) if want != outcome => {
                failures.push(format!("{key}: expected {want}, observed {outcome}"))
            }
            Some(_) => {}
        }
    }
    for key in expected.keys() {
        if !observed.contains_key(key) {
            failures.push(format!("the table lists {key}, which is no longer a route"));
        }
    }
    assert!(
        failures.is_empty(),
        "BOLA matrix failures:\n{}",
        failures.join("\n")
    );
    println!(
        "BOLA matrix: {} routes x {} roles = {} cells checked, plus missing/malformed ids and other verbs",
        ROUTES.len(),
        ROLES.len(),
        observed.len()
    );
}
