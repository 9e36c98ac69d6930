//! Proxy and guardian access, as a family and a practice meet it: granting, acting
//! for someone, the limits of a grant, revoking, a guardian that ends with the child's
//! age, and every step in the patient's audit trail under the proxy's own name.

use super::harness::{Backend, Login, PNG, World};
use reqwest::Method;
use serde_json::{Value, json};
use tiaki_core::CoreConfig;
use tiaki_domain::{Nhi, PatientId};
use tiaki_store::Patient;
use time::{Date, Duration, OffsetDateTime};

fn in_days(days: i64) -> String {
    (OffsetDateTime::now_utc() + Duration::days(days))
        .date()
        .to_string()
}

async fn send(
    world: &World,
    method: Method,
    path: &str,
    login: &Login,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = world.api(method, path, Some(login));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn upload(world: &World, login: &Login, patient: PatientId) -> (u16, Value) {
    let response = world
        .api(
            Method::POST,
            &format!("/api/v1/patients/{patient}/documents"),
            Some(login),
        )
        .multipart(World::upload_form(
            "From the family",
            "p.png",
            "image/png",
            PNG.to_vec(),
        ))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The 404 body for a patient that does not exist: every refusal must match it.
async fn missing_body(world: &World, login: &Login) -> Value {
    let (status, body) = send(
        world,
        Method::GET,
        &format!("/api/v1/patients/{}/documents", PatientId::new()),
        login,
        None,
    )
    .await;
    assert_eq!(status, 404);
    body
}

/// A child of practice X; `seed` keeps NHIs apart within one world.
async fn child(world: &World, born: Date, seed: u32) -> PatientId {
    let practice = world
        .store
        .patient(world.patient_a)
        .await
        .unwrap()
        .unwrap()
        .practice;
    let p = Patient {
        id: PatientId::new(),
        practice,
        nhi: (900 + 20 * seed..)
            .find_map(|k| Nhi::synthesize(*b"ZWT", k * 13))
            .unwrap(),
        given_name: "Tama".to_owned(),
        family_name: "Ngata".to_owned(),
        date_of_birth: born,
        email: None,
        created_at: OffsetDateTime::now_utc(),
    };
    world.core.create_patient(&p).await.unwrap();
    p.id
}

#[tokio::test]
async fn a_proxy_acts_within_the_grant_under_their_own_name_until_revoked() {
    let world = World::start().await;
    let a = world.patient_a;
    let aroha = world.login("patient.a").await;
    let bruce = world.login("patient.b").await;
    let refused = missing_body(&world, &bruce).await;

    // Before any grant, B reaches nothing of A's.
    let docs = format!("/api/v1/patients/{a}/documents");
    assert_eq!(
        send(&world, Method::GET, &docs, &bruce, None).await,
        (404, refused.clone())
    );

    let (status, grant) = send(
        &world,
        Method::POST,
        &format!("/api/v1/patients/{a}/proxies"),
        &aroha,
        Some(json!({
            "username": "Patient.B",
            "scopes": { "documents": "act", "messages": "read", "records": "none" },
            "expires_on": in_days(30),
        })),
    )
    .await;
    assert_eq!(status, 201, "{grant}");
    assert_eq!(grant["kind"], "proxy");
    assert_eq!(grant["status"], "active");
    assert_eq!(
        grant["scopes"],
        json!({ "documents": "act", "messages": "read" })
    );
    let grant_id = grant["id"].as_str().unwrap().to_owned();

    // B sees whom they act for, then reads and adds to A's documents.
    let (status, people) = send(&world, Method::GET, "/api/v1/me/acting-for", &bruce, None).await;
    assert_eq!(status, 200);
    assert_eq!(people.as_array().unwrap().len(), 1);
    assert_eq!(people[0]["patient_id"], a.to_string());
    assert_eq!(people[0]["name"], "Aroha Ngata");
    let (status, listed) = send(&world, Method::GET, &docs, &bruce, None).await;
    assert_eq!(status, 200);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == world.doc_a.id.to_string())
    );
    let content = world
        .api(
            Method::GET,
            &format!("/api/v1/documents/{}/content", world.doc_a.id),
            Some(&bruce),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), 200);
    assert!(String::from_utf8_lossy(&content.bytes().await.unwrap()).contains("A-SECRET"));
    let (status, added) = upload(&world, &bruce, a).await;
    assert_eq!(status, 201, "{added}");
    // A proxy adds what the patient could: a patient upload, never a clinical letter.
    assert_eq!(added["kind"], "patient_upload");
    let stored = world
        .store
        .document(added["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.meta.uploaded_by, bruce.actor.account);
    assert_eq!(stored.meta.patient, a);

    // What stays A's own: the access history, and who may act for A.
    for path in [
        format!("/api/v1/patients/{a}/access-history"),
        format!("/api/v1/patients/{a}/proxies"),
    ] {
        assert_eq!(
            send(&world, Method::GET, &path, &bruce, None).await,
            (404, refused.clone())
        );
    }
    let (status, _) = send(
        &world,
        Method::POST,
        &format!("/api/v1/patients/{a}/proxies"),
        &bruce,
        Some(json!({ "username": "patient.c", "scopes": { "documents": "read" }, "expires_on": in_days(3) })),
    )
    .await;
    assert_eq!(status, 404, "a proxy cannot pass access on");
    // And nobody else's: C's document stays out of reach.
    let (status, _) = send(
        &world,
        Method::GET,
        &format!("/api/v1/documents/{}", world.doc_c.id),
        &bruce,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The trail: B's actions under B's account, as A's proxy, about A.
    let events = world.store.audit_events_of_patient(a, 1000).await.unwrap();
    let by_bruce: Vec<_> = events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| {
            e.actor_account == Some(bruce.actor.account)
                && e.outcome == tiaki_audit::Outcome::Allowed
        })
        .collect();
    for action in ["document.list", "document.read", "document.upload"] {
        let e = by_bruce
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("{action}"));
        assert_eq!(e.actor_role, "proxy", "{action}");
        assert_eq!(e.patient, Some(a));
        assert_eq!(
            e.actor_practice, None,
            "a proxy acts for A, not for B's practice"
        );
    }
    let granted = events
        .iter()
        .map(|(_, e)| e)
        .find(|e| e.action == "proxy.grant")
        .unwrap();
    assert_eq!(granted.actor_account, Some(aroha.actor.account));
    assert_eq!(
        granted.reason.as_deref(),
        Some(format!("grant:{grant_id}").as_str())
    );

    // A sees it in "who accessed my records" as their proxy.
    let (status, history) = send(
        &world,
        Method::GET,
        &format!("/api/v1/patients/{a}/access-history"),
        &aroha,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let rows = history.as_array().unwrap();
    assert!(rows.iter().any(|r| r["who"] == "patient.b"
        && r["role"] == "Your proxy"
        && r["what"] == "Opened a document"));
    assert!(
        rows.iter()
            .any(|r| r["what"] == "Gave someone access to act for you")
    );
    let page = world
        .page(
            Method::GET,
            &format!("/patients/{a}/access-history"),
            Some(&aroha),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Your proxy"));

    // A revokes; from then on B meets the same 404 as for a stranger's record.
    let revoke = format!("/api/v1/patients/{a}/proxies/{grant_id}");
    let (status, _) = send(&world, Method::DELETE, &revoke, &aroha, None).await;
    assert_eq!(status, 204);
    assert_eq!(
        send(&world, Method::GET, &docs, &bruce, None).await,
        (404, refused.clone())
    );
    let (_, people) = send(&world, Method::GET, "/api/v1/me/acting-for", &bruce, None).await;
    assert_eq!(people, json!([]));
    assert_eq!(
        send(&world, Method::DELETE, &revoke, &aroha, None).await.0,
        404
    );
    let (_, grants) = send(
        &world,
        Method::GET,
        &format!("/api/v1/patients/{a}/proxies"),
        &aroha,
        None,
    )
    .await;
    assert_eq!(grants[0]["status"], "revoked");
    let events = world.store.audit_events_of_patient(a, 1000).await.unwrap();
    let ended = events
        .iter()
        .map(|(_, e)| e)
        .find(|e| e.action == "proxy.revoke")
        .unwrap();
    assert_eq!(ended.actor_account, Some(aroha.actor.account));
    let denied = events
        .iter()
        .map(|(_, e)| e)
        .find(|e| {
            e.actor_account == Some(bruce.actor.account)
                && e.outcome == tiaki_audit::Outcome::Denied
        })
        .unwrap();
    assert_eq!(
        denied.actor_role, "patient",
        "a refused attempt is not a proxy's act"
    );
}

#[tokio::test]
async fn expired_revoked_out_of_scope_and_read_only_grants_answer_like_none() {
    let mut world = World::start().await;
    world.add_proxies().await;
    let a = world.patient_a;
    let docs = format!("/api/v1/patients/{a}/documents");
    let before = world.document_count().await;
    for (username, reason) in [
        ("proxy.expired", "proxy_expired"),
        ("proxy.revoked", "foreign_patient"),
        ("proxy.scoped", "out_of_scope"),
    ] {
        let login = world.login(username).await;
        let refused = missing_body(&world, &login).await;
        assert_eq!(
            send(&world, Method::GET, &docs, &login, None).await,
            (404, refused.clone()),
            "{username}"
        );
        let (status, body) = send(
            &world,
            Method::GET,
            &format!("/api/v1/documents/{}/content", world.doc_a.id),
            &login,
            None,
        )
        .await;
        assert_eq!((status, body), (404, refused.clone()), "{username}");
        assert_eq!(
            upload(&world, &login, a).await,
            (404, refused),
            "{username}"
        );
        let events = world.store.audit_events_of_patient(a, 1000).await.unwrap();
        assert!(
            events
                .iter()
                .any(|(_, e)| e.actor_account == Some(login.actor.account)
                    && e.reason.as_deref() == Some(reason)),
            "{username} refused for {reason}"
        );
    }
    // Only appointments: they may see whose record it is, and nothing in documents.
    let scoped = world.login("proxy.scoped").await;
    let (status, header) = send(
        &world,
        Method::GET,
        &format!("/api/v1/patients/{a}"),
        &scoped,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header["given_name"], "Aroha");
    // Documents to see: reading yes, adding no.
    let reader = world.login("proxy.reader").await;
    assert_eq!(send(&world, Method::GET, &docs, &reader, None).await.0, 200);
    let refused = missing_body(&world, &reader).await;
    assert_eq!(upload(&world, &reader, a).await, (404, refused));
    assert_eq!(world.document_count().await, before);
    // The patient page offers the read-only proxy no upload form, and says whom they
    // act for.
    let page = world
        .page(Method::GET, &format!("/patients/{a}"), Some(&reader))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("You are acting for Aroha Ngata as their proxy"));
    assert!(!page.contains("upload-form"));
    assert!(!page.contains("access-history"));
}

#[tokio::test]
async fn granting_needs_a_fresh_second_factor_and_good_input() {
    let config = CoreConfig {
        step_up_minutes: 0,
        ..CoreConfig::default()
    };
    let world = World::start_with(Backend::Sqlite, config).await;
    let a = world.patient_a;
    let aroha = world.login("patient.a").await;
    let path = format!("/api/v1/patients/{a}/proxies");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let good = json!({ "username": "patient.b", "scopes": { "documents": "read" }, "expires_on": in_days(10) });
    let (status, body) = send(&world, Method::POST, &path, &aroha, Some(good)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("step_up_required"))
    );
    assert!(
        world
            .store
            .proxy_grants_of_patient(a)
            .await
            .unwrap()
            .is_empty()
    );
    // The page says so, and offers the way to confirm.
    let page = world
        .page(
            Method::POST,
            &format!("/patients/{a}/proxies"),
            Some(&aroha),
        )
        .form(&[
            ("csrf", aroha.csrf.clone()),
            ("username", "patient.b".to_owned()),
            ("documents", "read".to_owned()),
            ("expires_on", in_days(10)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    let text = page.text().await.unwrap();
    assert!(text.contains(&format!("/account/step-up?next=/patients/{a}/proxies")));
    assert!(
        world
            .store
            .proxy_grants_of_patient(a)
            .await
            .unwrap()
            .is_empty()
    );
    let bruce = world.login("patient.b").await;
    assert_eq!(
        send(
            &world,
            Method::GET,
            &format!("/api/v1/patients/{a}/documents"),
            &bruce,
            None
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn bad_grants_say_why_and_change_nothing() {
    let world = World::start().await;
    let a = world.patient_a;
    let path = format!("/api/v1/patients/{a}/proxies");
    let cases = [
        (
            json!({ "username": "nobody.here", "scopes": { "documents": "read" }, "expires_on": in_days(5) }),
            "unknown_account",
        ),
        (
            json!({ "username": "clinician.x", "scopes": { "documents": "read" }, "expires_on": in_days(5) }),
            "unknown_account",
        ),
        (
            json!({ "username": "patient.a", "scopes": { "documents": "read" }, "expires_on": in_days(5) }),
            "self_grant",
        ),
        (
            json!({ "username": "patient.b", "scopes": { "documents": "none" }, "expires_on": in_days(5) }),
            "no_scope",
        ),
        (
            json!({ "username": "patient.b", "scopes": { "everything": "act" }, "expires_on": in_days(5) }),
            "invalid_scope",
        ),
        (
            json!({ "username": "patient.b", "scopes": { "documents": "write" }, "expires_on": in_days(5) }),
            "invalid_access",
        ),
        (
            json!({ "username": "patient.b", "scopes": { "documents": "read" }, "expires_on": in_days(-1) }),
            "invalid_expiry",
        ),
        (
            json!({ "username": "patient.b", "scopes": { "documents": "read" }, "expires_on": in_days(5000) }),
            "invalid_expiry",
        ),
        (
            json!({ "username": "patient.b", "scopes": { "documents": "read" }, "expires_on": "soon" }),
            "invalid_expiry",
        ),
        (
            json!({ "username": "patient.b", "scopes": { "documents": "read" } }),
            "invalid_body",
        ),
    ];
    let before = world.store.audit_count().await.unwrap();
    for (body, code) in cases {
        let aroha = world.login("patient.a").await;
        let (status, answer) = send(&world, Method::POST, &path, &aroha, Some(body.clone())).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
        assert!(!answer["message"].as_str().unwrap().is_empty());
    }
    assert!(
        world
            .store
            .proxy_grants_of_patient(a)
            .await
            .unwrap()
            .is_empty()
    );
    // Sign-ins were recorded; no grant was.
    let events = world.store.audit_events_of_patient(a, 1000).await.unwrap();
    assert!(!events.iter().any(|(_, e)| e.action == "proxy.grant"));
    assert!(world.store.audit_count().await.unwrap() >= before);
}

#[tokio::test]
async fn a_practice_sets_up_a_guardian_that_ends_at_the_configured_age() {
    let config = CoreConfig {
        guardian_until_age: 16,
        ..CoreConfig::default()
    };
    let world = World::start_with(Backend::Sqlite, config).await;
    let today = OffsetDateTime::now_utc().date();
    let born = today
        .replace_year(today.year() - 10)
        .unwrap_or(today - Duration::days(3653));
    let tama = child(&world, born, 0).await;
    let path = format!("/api/v1/patients/{tama}/guardians");
    let body = json!({ "username": "patient.b" });

    // Only practice admins and clinicians of the child's own practice.
    for who in [
        "reception.x",
        "nurse.x",
        "clinician.y",
        "patient.a",
        "patient.b",
        "privacy",
    ] {
        let login = world.login(who).await;
        let (status, _) = send(&world, Method::POST, &path, &login, Some(body.clone())).await;
        assert_eq!(status, 404, "{who}");
    }
    assert!(
        world
            .store
            .proxy_grants_of_patient(tama)
            .await
            .unwrap()
            .is_empty()
    );
    // An adult is nobody's ward.
    let admin = world.login("admin.x").await;
    let (status, answer) = send(
        &world,
        Method::POST,
        &format!("/api/v1/patients/{}/guardians", world.patient_a),
        &admin,
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("not_a_child"))
    );

    let (status, grant) = send(&world, Method::POST, &path, &admin, Some(body.clone())).await;
    assert_eq!(status, 201, "{grant}");
    assert_eq!(grant["kind"], "guardian");
    let ends = tiaki_domain::proxy::birthday_at(born, 16).unwrap();
    let expires_at = OffsetDateTime::parse(
        grant["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        expires_at, ends,
        "guardian access ends on the 16th birthday"
    );
    assert_eq!(grant["scopes"]["documents"], "act");
    let grant_id = grant["id"].as_str().unwrap().to_owned();

    // The guardian acts for the child, recorded as their guardian.
    let parent = world.login("patient.b").await;
    let (status, people) = send(&world, Method::GET, "/api/v1/me/acting-for", &parent, None).await;
    assert_eq!(
        (status, people[0]["kind"].as_str()),
        (200, Some("guardian"))
    );
    assert_eq!(upload(&world, &parent, tama).await.0, 201);
    let docs = format!("/api/v1/patients/{tama}/documents");
    assert_eq!(send(&world, Method::GET, &docs, &parent, None).await.0, 200);
    let events = world
        .store
        .audit_events_of_patient(tama, 1000)
        .await
        .unwrap();
    let upload_event = events
        .iter()
        .map(|(_, e)| e)
        .find(|e| e.action == "document.upload")
        .unwrap();
    assert_eq!(upload_event.actor_role, "guardian");
    assert_eq!(upload_event.actor_account, Some(parent.actor.account));
    let started = events
        .iter()
        .map(|(_, e)| e)
        .find(|e| e.action == "guardian.start")
        .unwrap();
    assert_eq!(started.actor_role, "practice_admin");
    // The guardian cannot end it themselves, nor can the practice's reception.
    let end = format!("/api/v1/patients/{tama}/guardians/{grant_id}");
    assert_eq!(
        send(&world, Method::DELETE, &end, &parent, None).await.0,
        404
    );
    let reception = world.login("reception.x").await;
    assert_eq!(
        send(&world, Method::DELETE, &end, &reception, None).await.0,
        404
    );
    // Nor can it be revoked as though it were a proxy's grant.
    assert_eq!(
        send(
            &world,
            Method::DELETE,
            &format!("/api/v1/patients/{tama}/proxies/{grant_id}"),
            &parent,
            None
        )
        .await
        .0,
        404
    );

    // The day the child turns 16 (here: the stored end moved to a moment ago), access
    // ends by itself, with no one doing anything.
    let now_ns = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap();
    sqlx::query("UPDATE proxy_grants SET created_at_ns = $1 - 2000, expires_at_ns = $1 - 1000 WHERE id = $2")
        .bind(now_ns)
        .bind(grant_id.parse::<uuid::Uuid>().unwrap())
        .execute(&world.sqlite().await)
        .await
        .unwrap();
    let refused = missing_body(&world, &parent).await;
    assert_eq!(
        send(&world, Method::GET, &docs, &parent, None).await,
        (404, refused)
    );
    let (_, people) = send(&world, Method::GET, "/api/v1/me/acting-for", &parent, None).await;
    assert_eq!(people, json!([]));
    let (_, listed) = send(&world, Method::GET, &path, &admin, None).await;
    assert_eq!(listed[0]["status"], "expired");

    // A teenager past the configured age cannot be given a guardian.
    let older = today
        .replace_year(today.year() - 17)
        .unwrap_or(today - Duration::days(6210));
    let teen = child(&world, older, 1).await;
    let (status, answer) = send(
        &world,
        Method::POST,
        &format!("/api/v1/patients/{teen}/guardians"),
        &admin,
        Some(body),
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("not_a_child"))
    );
}

#[tokio::test]
async fn the_practice_can_end_guardianship_early() {
    let world = World::start().await;
    let today = OffsetDateTime::now_utc().date();
    let tama = child(&world, today - Duration::days(5 * 365), 0).await;
    let admin = world.login("admin.x").await;
    let (status, grant) = send(
        &world,
        Method::POST,
        &format!("/api/v1/patients/{tama}/guardians"),
        &admin,
        Some(json!({ "username": "patient.c" })),
    )
    .await;
    assert_eq!(status, 201);
    let parent = world.login("patient.c").await;
    let docs = format!("/api/v1/patients/{tama}/documents");
    assert_eq!(send(&world, Method::GET, &docs, &parent, None).await.0, 200);
    let clinician = world.login("clinician.x").await;
    let end = format!(
        "/api/v1/patients/{tama}/guardians/{}",
        grant["id"].as_str().unwrap()
    );
    assert_eq!(
        send(&world, Method::DELETE, &end, &clinician, None).await.0,
        204
    );
    assert_eq!(send(&world, Method::GET, &docs, &parent, None).await.0, 404);
    let events = world
        .store
        .audit_events_of_patient(tama, 1000)
        .await
        .unwrap();
    let ended = events
        .iter()
        .map(|(_, e)| e)
        .find(|e| e.action == "guardian.end")
        .unwrap();
    assert_eq!(ended.actor_account, Some(clinician.actor.account));
    assert_eq!(ended.actor_role, "clinician");
}

/// Through the pages: grant, switch to the person, act, revoke.
#[tokio::test]
async fn the_pages_grant_switch_and_revoke() {
    let world = World::start().await;
    let a = world.patient_a;
    let aroha = world.login("patient.a").await;
    let page = |login: &Login, path: String| {
        let login = login.clone();
        let world = &world;
        async move {
            let response = world
                .page(Method::GET, &path, Some(&login))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, own) = page(&aroha, format!("/patients/{a}")).await;
    assert_eq!(status, 200);
    assert!(own.contains(&format!("/patients/{a}/proxies")));
    let (status, form) = page(&aroha, format!("/patients/{a}/proxies")).await;
    assert_eq!(status, 200);
    assert!(form.contains("id=\"no-grants\""));

    // A mistake is explained on the same page, keeping what was typed.
    let submit = |fields: Vec<(&'static str, String)>| {
        world
            .page(
                Method::POST,
                &format!("/patients/{a}/proxies"),
                Some(&aroha),
            )
            .form(&fields)
            .send()
    };
    let wrong = submit(vec![
        ("csrf", aroha.csrf.clone()),
        ("username", "nobody.here".into()),
        ("documents", "read".into()),
        ("expires_on", in_days(7)),
    ])
    .await
    .unwrap();
    assert_eq!(wrong.status(), 400);
    let text = wrong.text().await.unwrap();
    assert!(text.contains("no patient account with that username"));
    assert!(text.contains("value=\"nobody.here\""));
    // Without the form's token, nothing.
    let forged = submit(vec![
        ("csrf", "forged".into()),
        ("username", "patient.b".into()),
        ("documents", "act".into()),
        ("expires_on", in_days(7)),
    ])
    .await
    .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(
        world
            .store
            .proxy_grants_of_patient(a)
            .await
            .unwrap()
            .is_empty()
    );

    let done = submit(vec![
        ("csrf", aroha.csrf.clone()),
        ("username", "patient.b".into()),
        ("documents", "act".into()),
        ("appointments", "read".into()),
        ("expires_on", in_days(7)),
    ])
    .await
    .unwrap();
    assert_eq!(done.status(), 303);
    let (_, listed) = page(&aroha, format!("/patients/{a}/proxies")).await;
    assert!(listed.contains("patient.b"));
    assert!(listed.contains("Health documents: can see and act; Appointments: can see"));

    // B switches to A and acts.
    let bruce = world.login("patient.b").await;
    let (status, switcher) = page(&bruce, "/acting-for".to_owned()).await;
    assert_eq!(status, 200);
    assert!(switcher.contains(&format!("href=\"/patients/{a}\"")));
    assert!(switcher.contains("Act for Aroha Ngata"));
    let (status, theirs) = page(&bruce, format!("/patients/{a}")).await;
    assert_eq!(status, 200);
    assert!(theirs.contains("You are acting for Aroha Ngata as their proxy"));
    assert!(theirs.contains("Discharge summary"));
    assert!(theirs.contains("upload-form"));
    assert!(!theirs.contains(&format!("/patients/{a}/proxies")));
    let (status, doc) = page(&bruce, format!("/documents/{}", world.doc_a.id)).await;
    assert_eq!(status, 200);
    assert!(doc.contains("id=\"view\""));

    // A ends it from the page.
    let grant = world.store.proxy_grants_of_patient(a).await.unwrap()[0];
    let revoked = world
        .page(
            Method::POST,
            &format!("/patients/{a}/proxies/{}/revoke", grant.id),
            Some(&aroha),
        )
        .form(&[("csrf", aroha.csrf.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303);
    assert_eq!(page(&bruce, format!("/patients/{a}")).await.0, 404);
    let (_, switcher) = page(&bruce, "/acting-for".to_owned()).await;
    assert!(switcher.contains("id=\"no-people\""));
    let (_, listed) = page(&aroha, format!("/patients/{a}/proxies")).await;
    assert!(listed.contains("Ended"));
}
