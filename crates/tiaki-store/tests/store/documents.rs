//! Stories about documents and the audit log.

use crate::fixtures::*;
use std::collections::HashSet;
use std::sync::Arc;
use tiaki_audit::{AuditLog, AuditSink};
use tiaki_store::{Patient, Store, StoreError};

/// A practice with two patients and a clinician, stored.
async fn clinic(store: &dyn Store) -> (Patient, Patient, tiaki_domain::AccountId) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let p = patient(pr.id, 1, "Aroha", "Ngāta");
    let q = patient(pr.id, 100, "Mere", "Smith");
    store.patient_insert(&p, &key(1)).await.unwrap();
    store.patient_insert(&q, &key(1)).await.unwrap();
    let doctor = staff(pr.id, "doctor");
    store.account_insert(&doctor).await.unwrap();
    (p, q, doctor.id)
}

pub async fn documents_round_trip(store: &dyn Store) {
    let (p, q, doctor) = clinic(store).await;
    let older = document(&p, 100, doctor);
    let newer = document(&p, 200, doctor);
    let theirs = document(&q, 300, doctor);
    let before = store.audit_count().await.unwrap();
    let mut sequences = Vec::new();
    for doc in [&older, &newer, &theirs] {
        let owner = if doc.meta.patient == p.id { &p } else { &q };
        let ev = event(Some(owner), Some(doc.meta.id));
        sequences.push(store.document_insert(doc, &ev).await.unwrap());
    }
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    assert_eq!(store.audit_count().await.unwrap(), before + 3);

    assert_eq!(
        store.document(newer.meta.id).await.unwrap(),
        Some(newer.clone())
    );
    assert_eq!(
        store
            .document(tiaki_domain::DocumentId::new())
            .await
            .unwrap(),
        None
    );
    let listed = store.documents_of(p.id).await.unwrap();
    assert_eq!(
        listed,
        vec![newer.meta.clone(), older.meta.clone()],
        "newest first, own only"
    );
    assert!(
        store
            .documents_of(tiaki_domain::PatientId::new())
            .await
            .unwrap()
            .is_empty()
    );

    // The upload event is in the patient's trail, with the sequence number returned.
    let trail = store.audit_events_of_patient(p.id, 10).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0].0, sequences[1]);
    assert_eq!(trail[0].1.document, Some(newer.meta.id));

    let asked = vec![
        older.blob_key.clone(),
        "documents/never-stored".to_string(),
        theirs.blob_key.clone(),
    ];
    let known = store.blob_keys_known(&asked).await.unwrap();
    let expected: HashSet<String> = [older.blob_key.clone(), theirs.blob_key.clone()].into();
    assert_eq!(known, expected);
    assert!(store.blob_keys_known(&[]).await.unwrap().is_empty());
    let many: Vec<String> = (0..1200).map(|i| format!("documents/x{i}")).collect();
    assert!(
        store.blob_keys_known(&many).await.unwrap().is_empty(),
        "large batches work"
    );
}

/// Invariant 8: if the audit event cannot be stored, neither is the document.
pub async fn document_insert_is_atomic(store: &dyn Store) {
    let (p, _, doctor) = clinic(store).await;
    let recorded = event(Some(&p), None);
    store.append(std::slice::from_ref(&recorded)).await.unwrap();
    let count = store.audit_count().await.unwrap();

    let doc = document(&p, 100, doctor);
    let clash = tiaki_audit::AuditEvent {
        document: Some(doc.meta.id),
        ..recorded.clone()
    };
    let failed = store.document_insert(&doc, &clash).await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    assert_eq!(
        store.document(doc.meta.id).await.unwrap(),
        None,
        "no document row"
    );
    assert!(store.documents_of(p.id).await.unwrap().is_empty());
    assert!(
        store
            .blob_keys_known(std::slice::from_ref(&doc.blob_key))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.audit_count().await.unwrap(), count);

    // And the other way round: a refused document leaves no event behind.
    store
        .document_insert(&doc, &event(Some(&p), Some(doc.meta.id)))
        .await
        .unwrap();
    let copy = tiaki_store::DocumentRecord {
        meta: tiaki_domain::DocumentMeta {
            id: tiaki_domain::DocumentId::new(),
            ..doc.meta.clone()
        },
        ..doc.clone()
    };
    let orphan_event = event(Some(&p), Some(copy.meta.id));
    let failed = store.document_insert(&copy, &orphan_event).await;
    assert!(
        matches!(failed, Err(StoreError::Conflict(_))),
        "same blob key: {failed:?}"
    );
    let trail = store.audit_events_of_patient(p.id, 100).await.unwrap();
    assert!(trail.iter().all(|(_, e)| e.id != orphan_event.id));
    assert_eq!(store.audit_count().await.unwrap(), count + 1);
}

pub async fn audit_appends_in_order_and_atomically(store: &dyn Store) {
    let (p, q, _) = clinic(store).await;
    assert!(store.append(&[]).await.unwrap().is_empty());
    let batch = vec![event(Some(&p), None), bare_event(&p), event(Some(&q), None)];
    let first = store.append(&batch).await.unwrap();
    assert_eq!(first.len(), 3);
    assert!(first.windows(2).all(|w| w[0] < w[1]), "{first:?}");
    let second = store.append(&[event(Some(&p), None)]).await.unwrap();
    assert!(second[0] > first[2]);

    // Read back exactly, newest first, this patient's only.
    let trail = store.audit_events_of_patient(p.id, 10).await.unwrap();
    let seqs: Vec<u64> = trail.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, vec![second[0], first[1], first[0]]);
    assert_eq!(trail[1].1, batch[1], "bare event, IPv6 address");
    assert_eq!(trail[2].1, batch[0], "full event, IPv4 address");
    assert_eq!(
        store.audit_events_of_patient(p.id, 1).await.unwrap().len(),
        1
    );

    // A batch with one bad event stores none of them.
    let count = store.audit_count().await.unwrap();
    let fresh = event(Some(&q), None);
    let failed = store.append(&[fresh.clone(), batch[0].clone()]).await;
    assert!(failed.is_err());
    assert_eq!(store.audit_count().await.unwrap(), count);
    let q_trail = store.audit_events_of_patient(q.id, 10).await.unwrap();
    assert!(q_trail.iter().all(|(_, e)| e.id != fresh.id));
}

/// The audit crate's log works on the store, and concurrent appends from many tasks
/// all land with distinct sequence numbers.
pub async fn audit_log_over_the_store(store: Arc<dyn Store>) {
    let (p, _, _) = clinic(store.as_ref()).await;
    let sink: Arc<dyn AuditSink> = store.clone();
    let log = AuditLog::new(sink);
    let one = log.record_event(&event(Some(&p), None)).await.unwrap();

    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for _ in 0..5 {
                seqs.extend(store.append(&[event(Some(&p), None)]).await.unwrap());
            }
            seqs
        }));
    }
    let mut all = vec![one];
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), 81);
    assert_eq!(store.audit_count().await.unwrap(), 81);
}
