//! Leak-tracing fingerprints: stored once however often they are added, found by
//! digest, and an unknown document or kind adds nothing.

use crate::fixtures::*;
use tiaki_domain::DocumentId;
use tiaki_store::{FingerprintCoverage, Store};

pub async fn fingerprints_are_found_by_digest_and_added_once(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let p = patient(pr.id, 1, "Aroha", "Ngāta");
    store.patient_insert(&p, &key(1)).await.unwrap();
    let clinician = staff(pr.id, "clinician");
    store.account_insert(&clinician).await.unwrap();
    let a = document(&p, 1, clinician.id);
    let b = document(&p, 2, clinician.id);
    for d in [&a, &b] {
        store
            .document_insert(d, &event(Some(&p), Some(d.meta.id)))
            .await
            .unwrap();
    }
    assert_eq!(
        store.fingerprint_coverage().await.unwrap(),
        FingerprintCoverage {
            documents: 2,
            fingerprinted: 0
        }
    );
    let mut pending = store.documents_unfingerprinted(None, 10).await.unwrap();
    let mut both = vec![a.meta.id, b.meta.id];
    both.sort();
    assert_eq!(pending, both);

    let shared = [7u8; 32];
    store
        .fingerprints_put(a.meta.id, &[("file", [1; 32]), ("pdf_stream", shared)])
        .await
        .unwrap();
    // Again, and overlapping: nothing doubles.
    store
        .fingerprints_put(a.meta.id, &[("pdf_stream", shared)])
        .await
        .unwrap();
    store
        .fingerprints_put(b.meta.id, &[("pdf_stream", shared), ("pixels", [2; 32])])
        .await
        .unwrap();
    assert!(store.document_fingerprinted(a.meta.id).await.unwrap());

    let hits = store
        .fingerprints_find(&[shared, [1; 32], [9; 32]])
        .await
        .unwrap();
    let mut seen: Vec<(DocumentId, String, [u8; 32])> = hits
        .into_iter()
        .map(|h| (h.document, h.kind, h.digest))
        .collect();
    seen.sort();
    let mut expected = vec![
        (a.meta.id, "file".to_owned(), [1; 32]),
        (a.meta.id, "pdf_stream".to_owned(), shared),
        (b.meta.id, "pdf_stream".to_owned(), shared),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    assert!(store.fingerprints_find(&[]).await.unwrap().is_empty());
    assert!(
        store.fingerprints_find(&vec![[0; 32]; 501]).await.is_err(),
        "a lookup is bounded"
    );

    // An unknown kind, or a document that does not exist: an error, nothing added.
    let c = document(&p, 3, clinician.id);
    store
        .document_insert(&c, &event(Some(&p), Some(c.meta.id)))
        .await
        .unwrap();
    assert!(
        store
            .fingerprints_put(c.meta.id, &[("file", [3; 32]), ("colour", [4; 32])])
            .await
            .is_err()
    );
    assert!(!store.document_fingerprinted(c.meta.id).await.unwrap());
    assert!(
        store
            .fingerprints_put(DocumentId::new(), &[("file", [5; 32])])
            .await
            .is_err()
    );
    assert!(
        store
            .fingerprints_find(&[[5; 32], [3; 32]])
            .await
            .unwrap()
            .is_empty()
    );

    // The walk resumes after a cursor and skips what is fingerprinted.
    pending = store.documents_unfingerprinted(None, 10).await.unwrap();
    assert_eq!(pending, vec![c.meta.id]);
    assert!(
        store
            .documents_unfingerprinted(Some(c.meta.id), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.fingerprint_coverage().await.unwrap(),
        FingerprintCoverage {
            documents: 3,
            fingerprinted: 2
        }
    );
}
