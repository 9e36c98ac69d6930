//! The audit log as patients, privacy officers and outside verifiers meet it.

use super::harness::World;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::Method;
use tiaki_audit::NoteVerifier;
use tiaki_audit::merkle::{verify_consistency, verify_inclusion};

fn hash(b64: &str) -> [u8; 32] {
    B64.decode(b64).unwrap().try_into().unwrap()
}

#[tokio::test]
async fn a_clinicians_view_appears_in_the_patients_history_with_a_proof() {
    let world = World::start().await;
    let clinician = world.login("clinician.x").await;
    let a = world.login("patient.a").await;
    let content = format!("/api/v1/documents/{}/content", world.doc_a.id);
    let read = world
        .api(Method::GET, &content, Some(&clinician))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let access_id = read.headers()["x-tiaki-access-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        world
            .api(Method::GET, &content, Some(&a))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let history: serde_json::Value = world
        .get_json(
            &format!("/api/v1/patients/{}/access-history", world.patient_a),
            Some(&a),
        )
        .await;
    let rows = history.as_array().unwrap();
    let by_clinician = rows
        .iter()
        .find(|r| r["access_id"] == access_id.as_str())
        .expect("the clinician's read is listed");
    assert_eq!(by_clinician["who"], "clinician.x");
    assert_eq!(by_clinician["role"], "Clinician");
    assert_eq!(by_clinician["practice"], "Practice X");
    assert_eq!(by_clinician["what"], "Opened a document");
    assert_eq!(by_clinician["document_title"], "Discharge summary");
    assert!(
        rows.iter()
            .any(|r| r["who"] == "You" && r["what"] == "Opened a document")
    );

    // The row's proof verifies against a checkpoint signed by the published key.
    let proof: serde_json::Value = world
        .get_json(&format!("/api/v1/audit/events/{access_id}/proof"), Some(&a))
        .await;
    let key = world
        .get("/api/v1/audit/key")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let checkpoint = NoteVerifier::parse(&key)
        .unwrap()
        .open(proof["checkpoint"].as_str().unwrap())
        .unwrap();
    let hashes: Vec<[u8; 32]> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hash(h.as_str().unwrap()))
        .collect();
    let index = proof["leaf_index"].as_u64().unwrap();
    assert_eq!(proof["tree_size"].as_u64().unwrap(), checkpoint.size);
    assert!(verify_inclusion(
        index,
        checkpoint.size,
        &hash(proof["leaf_hash"].as_str().unwrap()),
        &hashes,
        &checkpoint.root
    ));
    // The leaf is the event the history shows.
    let entry = world
        .store
        .log_entry_by_id(access_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        tiaki_audit::event_leaf_hash(&entry.event).unwrap(),
        hash(proof["leaf_hash"].as_str().unwrap())
    );

    // CSV and FHIR carry the same rows.
    let csv = world
        .api(
            Method::GET,
            &format!(
                "/api/v1/patients/{}/access-history?format=csv",
                world.patient_a
            ),
            Some(&a),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("time,who,role"));
    assert!(csv.contains(&access_id));
    let fhir: serde_json::Value = world
        .get_json(
            &format!(
                "/api/v1/patients/{}/access-history?format=fhir",
                world.patient_a
            ),
            Some(&a),
        )
        .await;
    assert_eq!(fhir["resourceType"], "Bundle");
    let events = fhir["entry"].as_array().unwrap();
    assert!(
        events
            .iter()
            .all(|e| e["resource"]["resourceType"] == "AuditEvent")
    );
    assert!(
        events
            .iter()
            .any(|e| e["resource"]["id"] == access_id.as_str())
    );
}

#[tokio::test]
async fn only_the_patient_and_the_privacy_officer_see_the_history() {
    let world = World::start().await;
    let path = format!("/api/v1/patients/{}/access-history", world.patient_a);
    for who in [
        "clinician.x",
        "nurse.x",
        "reception.x",
        "admin.x",
        "clinician.y",
        "patient.b",
        "operator",
    ] {
        let login = world.login(who).await;
        let response = world
            .api(Method::GET, &path, Some(&login))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            404,
            "{who} must not see A's access history"
        );
    }
    let privacy = world.login("privacy").await;
    assert_eq!(
        world
            .api(Method::GET, &path, Some(&privacy))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The privacy officer searches by actor and by address range.
    let b = world.login("patient.b").await;
    let probe = world
        .api(
            Method::GET,
            &format!("/api/v1/documents/{}/content", world.doc_a.id),
            Some(&b),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 404);
    let found: serde_json::Value = world
        .get_json(
            &format!("/api/v1/audit/events?actor={}", b.actor.account),
            Some(&privacy),
        )
        .await;
    let rows = found.as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["outcome"] == "denied"
                && r["document"] == world.doc_a.id.to_string().as_str())
    );
    assert!(
        rows.iter().all(|r| r["document_title"].is_null()),
        "no titles for operators"
    );
    let by_range: serde_json::Value = world
        .get_json("/api/v1/audit/events?address=127.0.0.0/8", Some(&privacy))
        .await;
    assert!(!by_range.as_array().unwrap().is_empty());
    let elsewhere: serde_json::Value = world
        .get_json(
            "/api/v1/audit/events?address=203.0.113.0/24",
            Some(&privacy),
        )
        .await;
    assert!(elsewhere.as_array().unwrap().is_empty());
    let bad = world
        .api(
            Method::GET,
            "/api/v1/audit/events?address=nonsense",
            Some(&privacy),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    for who in ["clinician.x", "operator", "patient.a"] {
        let login = world.login(who).await;
        let response = world
            .api(Method::GET, "/api/v1/audit/events", Some(&login))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{who} cannot search the audit log");
    }
}

#[tokio::test]
async fn concurrent_reads_commit_as_groups_with_gapless_leaves_and_consistent_checkpoints() {
    let world = World::start().await;
    let a = world.login("patient.a").await;
    let first = world.core.transparency().checkpoint().await.unwrap();
    let content = format!("/api/v1/documents/{}/content", world.doc_a.id);
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let request = world.api(Method::GET, &content, Some(&a));
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let second = world.core.transparency().checkpoint().await.unwrap();
    assert!(second.size >= first.size + 64);
    let entries = world.store.log_entries(0, second.size).await.unwrap();
    assert_eq!(
        entries.len() as u64,
        second.size,
        "leaf indices are gapless"
    );
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.index, i as u64);
        assert_eq!(
            tiaki_audit::event_leaf_hash(&e.event).unwrap(),
            e.leaf_hash,
            "leaf {i} reads back exactly"
        );
    }
    let proof: serde_json::Value = world
        .get(&format!(
            "/api/v1/audit/consistency?old={}&new={}",
            first.size, second.size
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hashes: Vec<[u8; 32]> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hash(h.as_str().unwrap()))
        .collect();
    assert!(verify_consistency(
        first.size,
        second.size,
        &first.root,
        &second.root,
        &hashes
    ));
    // The public checkpoint is the newest signed note.
    let note = world
        .get("/api/v1/audit/checkpoint")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(note, second.note);
}
