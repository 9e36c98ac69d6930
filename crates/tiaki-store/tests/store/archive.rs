//! Retention, the cold archive and erasure: every state change happens once, from the
//! state it was read in, together with its audit event.

use crate::fixtures::*;
use tiaki_audit::AuditEvent;
use tiaki_crypto::ArchivedDataKey;
use tiaki_domain::{DocumentKind, DocumentMeta};
use tiaki_store::{
    Account, ArchiveEntry, ArchiveItem, DocumentRecord, DocumentState, Patient, Resolution,
    RetentionCutoff, RetrievalRequest, Store, WrappedDataKey,
};

struct World {
    aroha: Patient,
    login: Account,
    /// Two discharge summaries a year apart, a lab report as old as the first, oldest
    /// first.
    old: DocumentRecord,
    newer: DocumentRecord,
    lab: DocumentRecord,
}

fn of_kind(p: &Patient, offset_s: i64, kind: DocumentKind, by: &Account, n: u8) -> DocumentRecord {
    let mut d = document(p, offset_s, by.id);
    d.meta = DocumentMeta { kind, ..d.meta };
    d.data_key = WrappedDataKey(vec![n; 61]);
    d
}

async fn world(store: &dyn Store) -> World {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let aroha = patient(pr.id, 1, "Aroha", "Ngāta");
    store.patient_insert(&aroha, &key(1)).await.unwrap();
    let login = patient_account(&aroha, "aroha");
    store.account_insert(&login).await.unwrap();
    let old = of_kind(&aroha, 0, DocumentKind::DischargeSummary, &login, 1);
    let newer = of_kind(
        &aroha,
        365 * 86_400,
        DocumentKind::DischargeSummary,
        &login,
        2,
    );
    let lab = of_kind(&aroha, 0, DocumentKind::LabReport, &login, 3);
    for d in [&old, &newer, &lab] {
        store
            .document_insert(d, &event(Some(&aroha), Some(d.meta.id)))
            .await
            .unwrap();
    }
    World {
        aroha,
        login,
        old,
        newer,
        lab,
    }
}

fn console(w: &World, d: &DocumentRecord, action: &str) -> AuditEvent {
    AuditEvent {
        action: action.into(),
        actor_account: None,
        actor_role: "console".into(),
        ..event(Some(&w.aroha), Some(d.meta.id))
    }
}

fn item(w: &World, d: &DocumentRecord, expected: &WrappedDataKey) -> ArchiveItem {
    ArchiveItem {
        entry: ArchiveEntry {
            document: d.meta.id,
            patient: w.aroha.id,
            archive_key: [5; 32],
            sealed_key: ArchivedDataKey(vec![6; 81]),
            rule: "discharge_summary:2y".into(),
            archived_at: at(900),
        },
        expected_data_key: expected.clone(),
        event: console(w, d, "document.archive"),
    }
}

fn cutoff(kind: DocumentKind, offset_s: i64) -> RetentionCutoff {
    RetentionCutoff {
        kind,
        before: at(offset_s),
    }
}

async fn state_of(store: &dyn Store, d: &DocumentRecord) -> (DocumentState, Vec<u8>) {
    let r = store.document(d.meta.id).await.unwrap().unwrap();
    (r.state, r.data_key.0)
}

pub async fn archiving_swaps_the_wrapped_key_for_the_sealed_one_once(store: &dyn Store) {
    let w = world(store).await;
    // Due: discharge summaries created before day 200 — the old one only.
    let rule = cutoff(DocumentKind::DischargeSummary, 200 * 86_400);
    assert_eq!(store.archive_due_count(&rule).await.unwrap(), 1);
    let due = store.archive_due(&rule, None, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].meta.id, w.old.meta.id);
    assert_eq!(due[0].state, DocumentState::Online);
    // Paging: nothing after the last id seen.
    assert!(
        store
            .archive_due(&rule, Some(w.old.meta.id), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let late = cutoff(DocumentKind::DischargeSummary, 400 * 86_400);
    assert_eq!(store.archive_due_count(&late).await.unwrap(), 2);
    let first = store.archive_due(&late, None, 1).await.unwrap();
    assert_eq!(first.len(), 1, "the limit holds");

    let events = store.audit_count().await.unwrap();
    // A stale expectation (the row's key changed meanwhile) is skipped; the other commits.
    let stale = item(&w, &w.newer, &WrappedDataKey(vec![42; 61]));
    let fresh = item(&w, &w.old, &w.old.data_key);
    let done = store.archive_commit(&[stale, fresh.clone()]).await.unwrap();
    assert_eq!(done, vec![w.old.meta.id]);
    assert_eq!(store.audit_count().await.unwrap(), events + 1);
    assert_eq!(
        state_of(store, &w.old).await,
        (DocumentState::Archived, vec![])
    );
    assert_eq!(
        state_of(store, &w.newer).await,
        (DocumentState::Online, w.newer.data_key.0.clone()),
        "the skipped row is untouched"
    );
    assert_eq!(
        store.archive_entry(w.old.meta.id).await.unwrap(),
        Some(fresh.entry.clone())
    );
    assert_eq!(store.archive_entry(w.newer.meta.id).await.unwrap(), None);
    let trail = store.audit_events_of_patient(w.aroha.id, 10).await.unwrap();
    assert!(trail.iter().any(|(_, e)| e.id == fresh.event.id));

    // Archived documents are no longer due, and committing again changes nothing.
    assert_eq!(store.archive_due_count(&rule).await.unwrap(), 0);
    assert!(store.archive_commit(&[fresh]).await.unwrap().is_empty());
    assert_eq!(store.audit_count().await.unwrap(), events + 1);

    // Other kinds follow their own rule; listings carry every state.
    assert_eq!(
        store
            .archive_due_count(&cutoff(DocumentKind::LabReport, 200 * 86_400))
            .await
            .unwrap(),
        1
    );
    let listed = store.documents_with_state_of(w.aroha.id).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].0.id, w.newer.meta.id, "newest first");
    let old = listed.iter().find(|(m, _)| m.id == w.old.meta.id).unwrap();
    assert_eq!(old.1, DocumentState::Archived);
    assert_eq!(old.0, w.old.meta);
}

pub async fn restoring_brings_the_key_back_and_closes_the_request(store: &dyn Store) {
    let w = world(store).await;
    let archived = item(&w, &w.old, &w.old.data_key);
    store.archive_commit(&[archived]).await.unwrap();
    let request = request(&w, &w.old);
    store
        .retrieval_request(&request, &console(&w, &w.old, "document.retrieval_request"))
        .await
        .unwrap();

    let events = store.audit_count().await.unwrap();
    let rewrapped = WrappedDataKey(vec![8; 61]);
    let restore = console(&w, &w.old, "document.restore");
    assert!(
        store
            .archive_restore(w.old.meta.id, &rewrapped, at(1000), &restore)
            .await
            .unwrap()
    );
    assert_eq!(
        state_of(store, &w.old).await,
        (DocumentState::Online, rewrapped.0.clone())
    );
    assert_eq!(store.archive_entry(w.old.meta.id).await.unwrap(), None);
    let requests = store.retrieval_requests_of(w.aroha.id).await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].resolution, Some(Resolution::Restored));
    assert_eq!(requests[0].resolved_at, Some(at(1000)));
    assert!(store.retrieval_requests_open(10).await.unwrap().is_empty());
    assert_eq!(store.audit_count().await.unwrap(), events + 1);

    // Restoring what is not archived (online now, or never archived) changes nothing.
    for d in [&w.old, &w.lab] {
        let again = console(&w, d, "document.restore");
        assert!(
            !store
                .archive_restore(d.meta.id, &WrappedDataKey(vec![1; 61]), at(1001), &again)
                .await
                .unwrap()
        );
    }
    assert_eq!(
        state_of(store, &w.old).await,
        (DocumentState::Online, rewrapped.0)
    );
    assert_eq!(store.audit_count().await.unwrap(), events + 1);
}

fn request(w: &World, d: &DocumentRecord) -> RetrievalRequest {
    RetrievalRequest {
        id: uuid::Uuid::now_v7(),
        document: d.meta.id,
        patient: w.aroha.id,
        practice: w.aroha.practice,
        requested_by: w.login.id,
        requested_at: at(950),
        resolved_at: None,
        resolution: None,
    }
}

pub async fn erasing_a_patient_shreds_every_key_once(store: &dyn Store) {
    let w = world(store).await;
    store
        .archive_commit(&[item(&w, &w.old, &w.old.data_key)])
        .await
        .unwrap();
    store
        .retrieval_request(
            &request(&w, &w.old),
            &console(&w, &w.old, "document.retrieval_request"),
        )
        .await
        .unwrap();
    // Someone else's record is not touched.
    let pr = store.practices().await.unwrap()[0].clone();
    let other = patient(pr.id, 60, "Hemi", "Walker");
    store.patient_insert(&other, &key(1)).await.unwrap();
    let theirs = document(&other, 5, w.login.id);
    store
        .document_insert(&theirs, &event(Some(&other), Some(theirs.meta.id)))
        .await
        .unwrap();

    let events = store.audit_count().await.unwrap();
    let erase = AuditEvent {
        action: "patient.erase".into(),
        ..console(&w, &w.old, "")
    };
    let erasure = store
        .patient_erase(w.aroha.id, "asked in writing", at(2000), &erase)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(erasure.documents, 3);
    let mut blobs = erasure.blob_keys.clone();
    blobs.sort();
    let mut expected: Vec<String> = [&w.old, &w.newer, &w.lab]
        .iter()
        .map(|d| d.blob_key.clone())
        .collect();
    expected.sort();
    assert_eq!(blobs, expected);
    assert_eq!(store.patient_key(w.aroha.id).await.unwrap(), None);
    for d in [&w.old, &w.newer, &w.lab] {
        assert_eq!(state_of(store, d).await, (DocumentState::Erased, vec![]));
    }
    assert_eq!(store.archive_entry(w.old.meta.id).await.unwrap(), None);
    let requests = store.retrieval_requests_of(w.aroha.id).await.unwrap();
    assert_eq!(requests[0].resolution, Some(Resolution::Erased));
    assert_eq!(
        store.patient_erased_at(w.aroha.id).await.unwrap(),
        Some(at(2000))
    );
    assert_eq!(store.audit_count().await.unwrap(), events + 1);
    // The sweep may now take the erased ciphertext, and only that.
    let mut keys = expected.clone();
    keys.push(theirs.blob_key.clone());
    let known = store.blob_keys_known(&keys).await.unwrap();
    assert_eq!(known.len(), 1);
    assert!(known.contains(&theirs.blob_key));
    assert!(store.patient_key(other.id).await.unwrap().is_some());
    assert_eq!(
        state_of(store, &theirs).await,
        (DocumentState::Online, theirs.data_key.0.clone())
    );
    // Erasing restored nothing and cannot be done twice; nor can an erased row come back.
    let again = AuditEvent {
        action: "patient.erase".into(),
        ..console(&w, &w.old, "")
    };
    assert_eq!(
        store
            .patient_erase(w.aroha.id, "again", at(2001), &again)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .patient_erase(tiaki_domain::PatientId::new(), "nobody", at(2001), &again)
            .await
            .unwrap(),
        None
    );
    assert!(
        !store
            .archive_restore(
                w.old.meta.id,
                &WrappedDataKey(vec![1; 61]),
                at(2002),
                &console(&w, &w.old, "document.restore")
            )
            .await
            .unwrap()
    );
    assert_eq!(store.audit_count().await.unwrap(), events + 1);
    assert_eq!(
        store.patient_erased_at(other.id).await.unwrap(),
        None,
        "only the erased patient is recorded"
    );
}

pub async fn retrieval_requests_are_one_open_per_document(store: &dyn Store) {
    let w = world(store).await;
    store
        .archive_commit(&[
            item(&w, &w.old, &w.old.data_key),
            item(&w, &w.lab, &w.lab.data_key),
        ])
        .await
        .unwrap();
    let events = store.audit_count().await.unwrap();
    let first = request(&w, &w.old);
    let stored = store
        .retrieval_request(&first, &console(&w, &w.old, "document.retrieval_request"))
        .await
        .unwrap();
    assert_eq!(stored, first);
    // Asking again answers the open request; the asking is still recorded.
    let second = RetrievalRequest {
        id: uuid::Uuid::now_v7(),
        requested_at: at(960),
        ..first.clone()
    };
    let answered = store
        .retrieval_request(&second, &console(&w, &w.old, "document.retrieval_request"))
        .await
        .unwrap();
    assert_eq!(answered.id, first.id);
    assert_eq!(answered.requested_at, first.requested_at);
    assert_eq!(store.audit_count().await.unwrap(), events + 2);
    let lab = RetrievalRequest {
        requested_at: at(955),
        ..request(&w, &w.lab)
    };
    store
        .retrieval_request(&lab, &console(&w, &w.lab, "document.retrieval_request"))
        .await
        .unwrap();
    let open = store.retrieval_requests_open(10).await.unwrap();
    assert_eq!(
        open.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![first.id, lab.id],
        "oldest first"
    );
    assert_eq!(store.retrieval_requests_open(1).await.unwrap().len(), 1);
    let mine = store.retrieval_requests_of(w.aroha.id).await.unwrap();
    assert_eq!(
        mine.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![lab.id, first.id],
        "newest first"
    );
    assert!(
        store
            .retrieval_requests_of(tiaki_domain::PatientId::new())
            .await
            .unwrap()
            .is_empty()
    );
    // After a restore, a new request opens a new row.
    store
        .archive_restore(
            w.old.meta.id,
            &WrappedDataKey(vec![8; 61]),
            at(1000),
            &console(&w, &w.old, "document.restore"),
        )
        .await
        .unwrap();
    store
        .archive_commit(&[item(&w, &w.old, &WrappedDataKey(vec![8; 61]))])
        .await
        .unwrap();
    let third = RetrievalRequest {
        id: uuid::Uuid::now_v7(),
        requested_at: at(1100),
        ..first.clone()
    };
    let reopened = store
        .retrieval_request(&third, &console(&w, &w.old, "document.retrieval_request"))
        .await
        .unwrap();
    assert_eq!(reopened.id, third.id);
    assert_eq!(
        store.retrieval_requests_of(w.aroha.id).await.unwrap().len(),
        3
    );
}
