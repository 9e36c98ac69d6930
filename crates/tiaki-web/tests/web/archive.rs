//! Archived documents at the web edge: listed as archived, their content a clear 410
//! (never an attempt to decrypt), a retrieval request the patient can make and the
//! practice can see, and the same 404 as ever for anyone who may not see them.

use super::harness::{Backend, World};
use reqwest::Method;
use tiaki_core::CoreConfig;
use tiaki_crypto::hpke::PrivateKey;
use time::{Duration, OffsetDateTime};

/// A world whose discharge summaries (every seeded letter) are archived.
async fn archived_world() -> (World, PrivateKey) {
    let private = PrivateKey::generate().unwrap();
    let mut config = CoreConfig::default();
    config.archive.public_key = Some(private.public_key().to_hex());
    let world = World::start_with(Backend::Sqlite, config).await;
    let later = OffsetDateTime::now_utc() + Duration::days(3 * 366);
    let report = world.core.archive_run(later, &mut |_| {}).await.unwrap();
    // Patient A's and C's letters, and the decoy's.
    assert_eq!(report.archived, 3, "{report:?}");
    assert_eq!(report.failed, 0);
    (world, private)
}

#[tokio::test]
async fn archived_documents_are_shown_as_such_and_can_be_asked_for() {
    let (world, _) = archived_world().await;
    let a = world.login("patient.a").await;
    let doc = world.doc_a.id;

    // The API: state in the listing and the metadata, 410 for the content.
    let listed = world
        .get_json(
            &format!("/api/v1/patients/{}/documents", world.patient_a),
            Some(&a),
        )
        .await;
    assert_eq!(listed[0]["state"], "archived");
    assert!(listed[0]["retrieval_requested_at"].is_null());
    let content = world
        .api(
            Method::GET,
            &format!("/api/v1/documents/{doc}/content"),
            Some(&a),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(content.status(), 410);
    let body: serde_json::Value = content.json().await.unwrap();
    assert_eq!(body["code"], "archived");

    // The pages: a badge in the list, a notice and a request form on the document.
    let list = world
        .page(
            Method::GET,
            &format!("/patients/{}", world.patient_a),
            Some(&a),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains(r#"data-state="archived""#), "{list}");
    let page = world
        .page(Method::GET, &format!("/documents/{doc}"), Some(&a))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="archived""#));
    assert!(page.contains(r#"id="retrieval-form""#));
    assert!(
        !page.contains(r#"id="view""#),
        "no link to content that cannot open"
    );
    let shown = world
        .page(Method::GET, &format!("/documents/{doc}/content"), Some(&a))
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), 410);
    assert!(shown.text().await.unwrap().contains("Ask your practice"));

    // A forged form (no CSRF token) is refused and records nothing.
    let forged = world
        .page(
            Method::POST,
            &format!("/documents/{doc}/retrieval-request"),
            Some(&a),
        )
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(
        world
            .core
            .open_retrieval_requests(10)
            .await
            .unwrap()
            .is_empty()
    );

    // The patient asks; the page and the practice's list both show it.
    let asked = world
        .page(
            Method::POST,
            &format!("/documents/{doc}/retrieval-request"),
            Some(&a),
        )
        .form(&[("csrf", a.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 303);
    let page = world
        .page(Method::GET, &format!("/documents/{doc}"), Some(&a))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="retrieval-requested""#));
    let open = world.core.open_retrieval_requests(10).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].document, doc);
    let clinician = world.login("clinician.x").await;
    let staff_list = world
        .page(
            Method::GET,
            &format!("/patients/{}", world.patient_a),
            Some(&clinician),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(staff_list.contains("Archived · asked for"), "{staff_list}");
    let meta = world
        .get_json(&format!("/api/v1/documents/{doc}"), Some(&clinician))
        .await;
    assert!(meta["retrieval_requested_at"].is_string());
}

#[tokio::test]
async fn others_learn_nothing_and_online_documents_need_no_request() {
    let (world, _) = archived_world().await;
    let b = world.login("patient.b").await;
    let doc = world.doc_a.id;
    // Another patient: the same 404 as for a document that does not exist.
    for path in [
        format!("/api/v1/documents/{doc}/content"),
        format!("/api/v1/documents/{doc}"),
    ] {
        let r = world
            .api(Method::GET, &path, Some(&b))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = world
        .api(
            Method::POST,
            &format!("/api/v1/documents/{doc}/retrieval-request"),
            Some(&b),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        world
            .core
            .open_retrieval_requests(10)
            .await
            .unwrap()
            .is_empty()
    );

    // An online document is not asked for.
    let a = world.login("patient.a").await;
    let upload = World::upload_form("Note", "note.txt", "text/plain", b"kia ora".to_vec());
    let stored: serde_json::Value = world
        .api(
            Method::POST,
            &format!("/api/v1/patients/{}/documents", world.patient_a),
            Some(&a),
        )
        .multipart(upload)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["state"], "online");
    let r = world
        .api(
            Method::POST,
            &format!(
                "/api/v1/documents/{}/retrieval-request",
                stored["id"].as_str().unwrap()
            ),
            Some(&a),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "not_archived");
}
