//! The guard's operator side through HTTP: the documents module's kill switch, containment
//! by hand and release with a reason (old tokens stay dead, a new sign-in works), the
//! audit trail of each, and the operator page.

use super::{
    HARD, active_containment, api_sign_in, audited_actions, budget_walk, containments_of, content,
    get, overview, patient_walk, set_module, small_budget,
};
use crate::web::harness::{Backend, Login, World, pdf_with};
use reqwest::Method;
use serde_json::{Value, json};
use tiaki_core::CoreConfig;

async fn upload(world: &World, login: &Login) -> (u16, String) {
    let form = World::upload_form("Letter", "letter.pdf", "application/pdf", pdf_with("K"));
    let response = world
        .api(
            Method::POST,
            &format!("/api/v1/patients/{}/documents", world.patient_a),
            Some(login),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn the_documents_kill_switch_closes_or_freezes_the_module_while_the_rest_works() {
    let world = World::start().await;
    let operator = world.login("operator").await;
    let privacy = world.login("privacy").await;
    let a = world.login("patient.a").await;
    let clinician = world.login("clinician.x").await;
    let list = format!("/api/v1/patients/{}/documents", world.patient_a);
    let meta = format!("/api/v1/documents/{}", world.doc_a.id);
    let closed = (503, "module_closed".to_owned());

    // Only operators hold the switch, and a reason is required.
    assert_eq!(set_module(&world, &a, "closed", "x").await.0, 404);
    assert_eq!(set_module(&world, &clinician, "closed", "x").await.0, 404);
    assert_eq!(
        set_module(&world, &operator, "closed", "  ").await,
        (400, "reason_required".to_owned())
    );
    assert_eq!(
        set_module(&world, &operator, "shut", "incident").await,
        (400, "invalid_module_state".to_owned())
    );
    assert_eq!(get(&world, &content(world.doc_a.id), &a).await.0, 200);

    // Closed: nothing in the module answers, for patients and staff alike.
    assert_eq!(
        set_module(&world, &operator, "closed", "incident 42")
            .await
            .0,
        204
    );
    for login in [&a, &clinician] {
        assert_eq!(get(&world, &content(world.doc_a.id), login).await, closed);
        assert_eq!(get(&world, &list, login).await, closed);
        assert_eq!(get(&world, &meta, login).await, closed);
    }
    let before = world.document_count().await;
    assert_eq!(upload(&world, &a).await, closed);
    // The page surface too.
    let page = world
        .page(
            Method::GET,
            &format!("/documents/{}/download", world.doc_a.id),
            Some(&a),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    // The rest of the portal works.
    assert_eq!(get(&world, "/api/v1/me", &a).await.0, 200);
    assert_eq!(get(&world, "/api/v1/sessions", &a).await.0, 200);
    assert_eq!(
        get(&world, &format!("/api/v1/patients/{}", world.patient_a), &a)
            .await
            .0,
        200
    );
    let o = overview(&world, &operator).await;
    let documents = o["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == "documents")
        .unwrap()
        .clone();
    assert_eq!(documents["state"], "closed");
    assert_eq!(documents["reason"], "incident 42");

    // Read-only (set by the privacy officer: both operator roles may): reads work,
    // uploads do not, and nothing is stored.
    assert_eq!(
        set_module(&world, &privacy, "read_only", "scoping the incident")
            .await
            .0,
        204
    );
    assert_eq!(get(&world, &content(world.doc_a.id), &a).await.0, 200);
    assert_eq!(get(&world, &list, &clinician).await.0, 200);
    assert_eq!(upload(&world, &a).await, closed);
    assert_eq!(upload(&world, &clinician).await, closed);
    assert_eq!(world.document_count().await, before);

    // Open again.
    assert_eq!(
        set_module(&world, &operator, "open", "resolved").await.0,
        204
    );
    assert_eq!(upload(&world, &a).await.0, 201);
    assert_eq!(world.document_count().await, before + 1);

    // Each switch is audited under the operator who set it.
    let actions = audited_actions(&world, operator.actor.account).await;
    for what in ["guard.module.closed", "guard.module.open"] {
        assert!(actions.iter().any(|w| w == what), "{what} in {actions:?}");
    }
    assert!(
        audited_actions(&world, privacy.actor.account)
            .await
            .iter()
            .any(|w| w == "guard.module.read_only")
    );
}

async fn contain(world: &World, by: &Login, account: &str, reason: &str) -> (u16, Value) {
    let response = world
        .api(Method::POST, "/api/v1/guard/containments", Some(by))
        .json(&json!({ "account_id": account, "reason": reason }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn release(world: &World, by: &Login, id: &str, reason: &str) -> (u16, String) {
    let response = world
        .api(
            Method::POST,
            &format!("/api/v1/guard/containments/{id}/release"),
            Some(by),
        )
        .json(&json!({ "reason": reason }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn an_operator_release_lets_the_person_sign_in_again_but_old_tokens_stay_dead() {
    let world = World::start().await;
    let operator = world.login("operator").await;
    let a = world.login("patient.a").await;
    let account = a.actor.account.to_string();

    // Staff and patients cannot contain anyone.
    let clinician = world.login("clinician.x").await;
    assert_eq!(contain(&world, &clinician, &account, "x").await.0, 404);
    assert_eq!(contain(&world, &a, &account, "x").await.0, 404);
    assert_eq!(get(&world, "/api/v1/me", &a).await.0, 200);

    // By hand, from an operator: signed out and frozen.
    assert_eq!(contain(&world, &operator, &account, "").await.0, 400);
    let (status, body) = contain(&world, &operator, &account, "reported phishing").await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(get(&world, &content(world.doc_a.id), &a).await.0, 401);
    assert_eq!(api_sign_in(&world, "patient.a").await, 401);
    let o = overview(&world, &operator).await;
    let c = containments_of(&o, &a);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["id"], id.as_str());
    assert_eq!(c[0]["detector"], "operator");
    assert_eq!(
        c[0]["created_by"],
        operator.actor.account.to_string().as_str()
    );
    assert_eq!(c[0]["active"], true);

    // Release needs a reason, and an operator.
    assert_eq!(
        release(&world, &operator, &id, "").await,
        (400, "reason_required".to_owned())
    );
    assert_eq!(release(&world, &clinician, &id, "ok").await.0, 404);
    assert_eq!(
        release(&world, &operator, &id, "identity confirmed by phone")
            .await
            .0,
        204
    );
    // Releasing twice, or an id that is not a containment: not found.
    assert_eq!(release(&world, &operator, &id, "again").await.0, 404);
    assert_eq!(
        release(&world, &operator, &uuid::Uuid::now_v7().to_string(), "x")
            .await
            .0,
        404
    );

    // The old token stays dead; a new sign-in works and reads.
    assert_eq!(get(&world, "/api/v1/me", &a).await.0, 401);
    assert_eq!(api_sign_in(&world, "patient.a").await, 201);
    let again = world.login("patient.a").await;
    assert_eq!(get(&world, &content(world.doc_a.id), &again).await.0, 200);

    let o = overview(&world, &operator).await;
    let c = containments_of(&o, &a)[0];
    assert_eq!(c["active"], false);
    assert_eq!(
        c["released_by"],
        operator.actor.account.to_string().as_str()
    );
    assert_eq!(c["release_reason"], "identity confirmed by phone");
    assert!(c["released_at"].is_string());

    // Both steps are in the audit log under the operator.
    let actions = audited_actions(&world, operator.actor.account).await;
    for what in ["guard.contain", "guard.release"] {
        assert!(actions.iter().any(|w| w == what), "{what} in {actions:?}");
    }
}

#[tokio::test]
async fn a_contained_patient_released_by_an_operator_can_read_their_own_documents() {
    // The guard's own containment (not one by hand) is released the same way.
    let world = World::start_guarded(Backend::Sqlite, CoreConfig::default()).await;
    patient_walk(&world).await;
    let operator = world.login("operator").await;
    let a_account = world
        .store
        .account_by_username("patient.a")
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let o = overview(&world, &operator).await;
    let id = o["containments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["account"].as_str() == Some(a_account.as_str()) && c["active"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        release(&world, &operator, &id, "patient followed an old link")
            .await
            .0,
        204
    );
    let a = world.login("patient.a").await;
    for _ in 0..3 {
        assert_eq!(get(&world, &content(world.doc_a.id), &a).await.0, 200);
    }
}

#[tokio::test]
async fn the_operator_page_shows_containments_with_release_forms_to_operators_only() {
    let world = World::start().await;
    let operator = world.login("operator").await;
    let clinician = world.login("clinician.x").await;
    assert_eq!(
        get(&world, &content(world.canary_doc.id), &clinician)
            .await
            .0,
        403
    );
    let id = active_containment(&overview(&world, &operator).await, &clinician, "canary");

    let page = world
        .page(Method::GET, "/operator/guard", Some(&operator))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("/operator/guard/containments/{id}/release")));
    assert!(html.contains("/operator/guard/modules/documents"));
    assert!(html.contains("canary"));
    // No names on the operator page: ids and figures only.
    assert!(!html.contains("Tawhiri") && !html.contains("Aroha"));

    let nurse = world.login("nurse.x").await;
    let refused = world
        .page(Method::GET, "/operator/guard", Some(&nurse))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
}

/// The active containment id of `username`'s account.
async fn containment_id(world: &World, operator: &Login, username: &str) -> String {
    let account = world
        .store
        .account_by_username(username)
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    overview(world, operator).await["containments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["account"].as_str() == Some(account.as_str()) && c["active"] == true)
        .unwrap_or_else(|| panic!("{username} is not contained"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_clinician_released_after_a_budget_containment_can_read_again() {
    let world = World::start_with(Backend::Sqlite, small_budget(CoreConfig::default())).await;
    assert_eq!(budget_walk(&world).await, HARD - 1);
    let operator = world.login("operator").await;
    let id = containment_id(&world, &operator, "clinician.x").await;
    assert_eq!(
        release(
            &world,
            &operator,
            &id,
            "busy clinic confirmed by the practice"
        )
        .await
        .0,
        204
    );
    // Released with a reason: the operator judged the reads legitimate, so the
    // clinician starts afresh rather than being contained again at the next read.
    let clinician = world.login("clinician.x").await;
    assert_eq!(
        get(&world, &content(world.doc_a.id), &clinician).await.0,
        200
    );
}
