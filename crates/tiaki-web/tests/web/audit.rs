//! Every read, denial and write is audited, with ids only; and if the audit log cannot
//! record a read, the read does not happen.

use super::harness::World;
use reqwest::Method;

#[tokio::test]
async fn reads_denials_misses_and_writes_are_all_audited_with_ids_only() {
    let world = World::start().await;
    let a = world.login("patient.a").await;
    let b = world.login("patient.b").await;
    let content = format!("/api/v1/documents/{}/content", world.doc_a.id);
    let count = world.store.audit_count().await.unwrap();

    let read = world
        .api(Method::GET, &content, Some(&a))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    // The harness's PDF has no pages to put a footer on: it goes out unmarked, and the
    // log says so in a second event (`document.unmarked`, with the reason).
    let unmarked = read
        .headers()
        .get("x-tiaki-mark")
        .and_then(|v| v.to_str().ok())
        == Some("unmarked");
    let after_read = world.store.audit_count().await.unwrap();
    assert_eq!(
        after_read,
        count + 1 + u64::from(unmarked),
        "a read appends one event (and one more saying why it went out unmarked)"
    );

    assert_eq!(
        world
            .api(Method::GET, &content, Some(&b))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let after_denial = world.store.audit_count().await.unwrap();
    assert_eq!(after_denial, after_read + 1, "a denial appends one event");

    let missing = format!(
        "/api/v1/documents/{}/content",
        tiaki_domain::DocumentId::new()
    );
    assert_eq!(
        world
            .api(Method::GET, &missing, Some(&b))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let after_miss = world.store.audit_count().await.unwrap();
    assert_eq!(after_miss, after_denial + 1, "a miss appends one event");

    let form = World::upload_form("Photo", "p.png", "image/png", super::harness::PNG.to_vec());
    let upload = world
        .api(
            Method::POST,
            &format!("/api/v1/patients/{}/documents", world.patient_a),
            Some(&a),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    assert!(
        world.store.audit_count().await.unwrap() > after_miss,
        "a write appends an event"
    );

    let events = world
        .store
        .audit_events_of_patient(world.patient_a, 1000)
        .await
        .unwrap();
    let denial = events
        .iter()
        .map(|(_, e)| e)
        .find(|e| {
            e.outcome == tiaki_audit::Outcome::Denied && e.actor_account == Some(b.actor.account)
        })
        .expect("the denial is in A's history");
    assert_eq!(denial.document, Some(world.doc_a.id));
    assert_eq!(denial.reason.as_deref(), Some("foreign_patient"));

    // Ids only: no names, NHIs or document text anywhere in the log.
    let patient = world.store.patient(world.patient_a).await.unwrap().unwrap();
    let everything = serde_json::to_string(&events).unwrap();
    for forbidden in [
        patient.given_name.as_str(),
        patient.family_name.as_str(),
        patient.nhi.as_str(),
        "Discharge summary",
        "A-SECRET",
    ] {
        assert!(
            !everything.contains(forbidden),
            "the audit log contains {forbidden}"
        );
    }
}

#[tokio::test]
async fn a_read_fails_closed_when_the_audit_log_cannot_append() {
    let world = World::start().await;
    let a = world.login("patient.a").await;
    let content = format!("/api/v1/documents/{}/content", world.doc_a.id);
    let db = world.sqlite().await;
    sqlx::query("CREATE TRIGGER audit_down BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END;")
        .execute(&db)
        .await
        .unwrap();

    let response = world
        .api(Method::GET, &content, Some(&a))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("A-SECRET") && !body.contains("%PDF"),
        "no content without a receipt"
    );
    assert!(body.contains("\"code\":\"unavailable\""), "{body}");
    let page = world
        .page(
            Method::GET,
            &format!("/documents/{}/content", world.doc_a.id),
            Some(&a),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(!page.text().await.unwrap().contains("A-SECRET"));
    // Uploads fail closed too, leaving no document.
    let before = world.document_count().await;
    let form = World::upload_form("Photo", "p.png", "image/png", super::harness::PNG.to_vec());
    let upload = world
        .api(
            Method::POST,
            &format!("/api/v1/patients/{}/documents", world.patient_a),
            Some(&a),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 503);
    assert_eq!(world.document_count().await, before);

    sqlx::query("DROP TRIGGER audit_down")
        .execute(&db)
        .await
        .unwrap();
    let response = world
        .api(Method::GET, &content, Some(&a))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "reads resume once the log is back");
}
