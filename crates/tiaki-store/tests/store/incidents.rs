//! Breach response storage: a scope freezes exactly the allowed reads its criteria
//! match inside the signed tree, versions never change, only the published version
//! reaches patients, a notice is queued once per (incident, patient) and claimed by one
//! run at a time, and containment changes every account named in one step.

use crate::fixtures::*;
use std::collections::BTreeSet;
use tiaki_audit::{AuditEvent, AuditQuery, Outcome};
use tiaki_domain::{AccountId, DocumentId, PatientId, SessionId};
use tiaki_store::{NoticeDraft, NoticeState, Patient, PublishRefusal, ScopeQuery, Store};
use uuid::Uuid;

fn read(
    actor: AccountId,
    patient: &Patient,
    document: Option<DocumentId>,
    action: &str,
    address: &str,
) -> AuditEvent {
    AuditEvent {
        actor_account: Some(actor),
        action: action.into(),
        address: Some(address.parse().unwrap()),
        ..event(Some(patient), document)
    }
}

fn actions() -> Vec<String> {
    [
        "document.read",
        "document.meta",
        "document.list",
        "patient.view",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn range(cidr: (&str, u8)) -> ([u8; 16], [u8; 16]) {
    AuditQuery {
        address: Some((cidr.0.parse().unwrap(), cidr.1)),
        ..AuditQuery::default()
    }
    .address_range()
    .unwrap()
}

struct World {
    p: Patient,
    q: Patient,
    r: Patient,
    attacker: AccountId,
    doc_p: DocumentId,
    doc_q: DocumentId,
}

async fn world(store: &dyn Store) -> World {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let p = patient(pr.id, 1, "Aroha", "Ngāta");
    let q = patient(pr.id, 100, "Mere", "Smith");
    let r = patient(pr.id, 200, "Hemi", "Walker");
    for x in [&p, &q, &r] {
        store.patient_insert(x, &key(1)).await.unwrap();
    }
    let doctor = staff(pr.id, "doctor");
    store.account_insert(&doctor).await.unwrap();
    let dp = document(&p, 100, doctor.id);
    let dq = document(&q, 200, doctor.id);
    store
        .document_insert(&dp, &event(Some(&p), Some(dp.meta.id)))
        .await
        .unwrap();
    store
        .document_insert(&dq, &event(Some(&q), Some(dq.meta.id)))
        .await
        .unwrap();
    World {
        p,
        q,
        r,
        attacker: AccountId::new(),
        doc_p: dp.meta.id,
        doc_q: dq.meta.id,
    }
}

pub async fn scopes_freeze_exactly_the_matching_reads(store: &dyn Store) {
    let w = world(store).await;
    let someone = AccountId::new();
    let in_scope = vec![
        read(
            w.attacker,
            &w.p,
            Some(w.doc_p),
            "document.read",
            "198.51.100.4",
        ),
        read(w.attacker, &w.r, None, "document.list", "198.51.100.4"),
        // Another account from the attacker's range.
        read(someone, &w.q, Some(w.doc_q), "document.meta", "203.0.113.9"),
    ];
    let out_of_scope = vec![
        // Refused: nothing was disclosed.
        AuditEvent {
            outcome: Outcome::Denied,
            ..read(
                w.attacker,
                &w.q,
                Some(w.doc_q),
                "document.read",
                "198.51.100.4",
            )
        },
        // A write, not a read.
        read(w.attacker, &w.p, None, "document.upload", "198.51.100.4"),
        // Someone else, elsewhere.
        read(someone, &w.q, Some(w.doc_q), "document.read", "192.0.2.1"),
    ];
    store.append(&in_scope).await.unwrap();
    store.append(&out_of_scope).await.unwrap();
    let tree_size = store.log_size().await.unwrap();
    // After the checkpoint: not in this scope's tree.
    store
        .append(&[read(
            w.attacker,
            &w.q,
            Some(w.doc_q),
            "document.read",
            "198.51.100.4",
        )])
        .await
        .unwrap();

    let incident = store
        .incident_open("Stolen password", "duty", at(0))
        .await
        .unwrap();
    assert_eq!(incident.number, 1);
    let query = ScopeQuery {
        actors: vec![w.attacker],
        sessions: vec![],
        address_ranges: vec![range(("203.0.113.0", 24))],
        from: None,
        to: None,
        actions: actions(),
        tree_size,
    };
    let v1 = store
        .incident_scope(1, "{\"v\":1}", &query, "note", at(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!((v1.accesses, v1.patients, v1.documents), (3, 3, 2));
    assert_eq!(v1.bytes, 3 * 4096);
    let rows = store.incident_accesses(1, 1, None, 100).await.unwrap();
    let found: BTreeSet<_> = rows.iter().map(|a| a.access_id).collect();
    let expected: BTreeSet<_> = in_scope.iter().map(|e| e.id).collect();
    assert_eq!(found, expected, "exactly the matching allowed reads");
    let read_p = rows.iter().find(|a| a.document == Some(w.doc_p)).unwrap();
    assert_eq!(read_p.document_kind.as_deref(), Some("lab_report"));
    assert!(
        read_p.document_title.is_some(),
        "what it reached is frozen with it"
    );
    assert_eq!(read_p.patient, w.p.id);
    assert_eq!(read_p.practice, w.p.practice);
    // Paging by leaf.
    let first = store.incident_accesses(1, 1, None, 1).await.unwrap();
    let rest = store
        .incident_accesses(1, 1, Some(first[0].leaf_index), 100)
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), 3);

    // A window that ends before everything finds nothing; the next version is 2, and
    // version 1 is unchanged.
    let narrow = ScopeQuery {
        to: Some(at(-100)),
        ..query.clone()
    };
    let v2 = store
        .incident_scope(1, "{}", &narrow, "note", at(6))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((v2.version, v2.accesses), (2, 0));
    assert_eq!(store.incident_scopes(1).await.unwrap()[0], v1);
    // A session criterion alone.
    let by_session = ScopeQuery {
        actors: vec![],
        address_ranges: vec![],
        sessions: vec![in_scope[0].session.unwrap(), SessionId::new()],
        ..query.clone()
    };
    let v3 = store
        .incident_scope(1, "{}", &by_session, "note", at(7))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v3.accesses, 1);
    // No such incident.
    assert!(
        store
            .incident_scope(9, "{}", &query, "note", at(8))
            .await
            .unwrap()
            .is_none()
    );
    let patients = store.incident_patients(1, 1, None, 2).await.unwrap();
    let more = store
        .incident_patients(1, 1, patients.last().copied(), 2)
        .await
        .unwrap();
    let all: BTreeSet<PatientId> = patients.into_iter().chain(more).collect();
    assert_eq!(all, BTreeSet::from([w.p.id, w.q.id, w.r.id]));
}

pub async fn published_scopes_reach_patients_and_notices_go_once(store: &dyn Store) {
    let w = world(store).await;
    store
        .append(&[read(
            w.attacker,
            &w.p,
            Some(w.doc_p),
            "document.read",
            "198.51.100.4",
        )])
        .await
        .unwrap();
    let tree_size = store.log_size().await.unwrap();
    store.incident_open("One", "duty", at(0)).await.unwrap();
    let query = ScopeQuery {
        actors: vec![w.attacker],
        actions: actions(),
        tree_size,
        ..ScopeQuery::default()
    };
    store
        .incident_scope(1, "{}", &query, "note", at(1))
        .await
        .unwrap();
    store
        .incident_scope(1, "{}", &query, "note", at(2))
        .await
        .unwrap();
    // Nothing is published yet: patients see nothing.
    assert!(store.patient_incidents(w.p.id).await.unwrap().is_empty());
    assert_eq!(
        store.incident_publish(1, 7, at(3)).await.unwrap(),
        Err(PublishRefusal::NoSuchScope)
    );
    store.incident_publish(1, 1, at(3)).await.unwrap().unwrap();
    let mine = store.patient_incidents(w.p.id).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].0.published_version, Some(1));
    assert_eq!(mine[0].1.len(), 1);
    assert!(store.patient_incidents(w.q.id).await.unwrap().is_empty());

    let recipients = store.notice_recipients(&[w.p.id, w.q.id]).await.unwrap();
    assert_eq!(recipients.len(), 2);
    assert_eq!(recipients[0].practice_name, "Awanui Medical");
    assert!(
        recipients.iter().all(|r| r.address.is_some()),
        "the practice's address"
    );

    let drafts = vec![
        NoticeDraft {
            patient: w.p.id,
            practice: w.p.practice,
            recipient: Some("aroha@example.nz".into()),
            subject: "s".into(),
            body: "b".into(),
        },
        NoticeDraft {
            patient: w.q.id,
            practice: w.q.practice,
            recipient: None,
            subject: "s".into(),
            body: "b".into(),
        },
    ];
    assert_eq!(store.notices_queue(1, 1, &drafts, at(4)).await.unwrap(), 2);
    assert_eq!(
        store.notices_queue(1, 1, &drafts, at(5)).await.unwrap(),
        0,
        "never twice"
    );
    let counts = store.notice_counts(1).await.unwrap();
    assert_eq!((counts.queued, counts.no_address), (1, 1));
    // What patients were told stands: another version cannot be published now.
    assert_eq!(
        store.incident_publish(1, 2, at(6)).await.unwrap(),
        Err(PublishRefusal::NoticesQueuedFrom(1))
    );

    // One sending run at a time; a lapsed lease can be taken over.
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    assert!(store.notices_lease(1, a, at(10), at(20)).await.unwrap());
    assert!(!store.notices_lease(1, b, at(11), at(21)).await.unwrap());
    assert!(
        store.notices_lease(1, a, at(12), at(22)).await.unwrap(),
        "renewal"
    );
    let claimed = store.notices_claim(1, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].state, claimed[0].attempts),
        (NoticeState::Sending, 1)
    );
    // Run a dies; run b takes over after the lease lapses and gets the orphan back.
    assert!(store.notices_lease(1, b, at(23), at(33)).await.unwrap());
    let again = store.notices_claim(1, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].patient, again[0].attempts), (w.p.id, 2));
    store
        .notice_mark(1, w.p.id, NoticeState::Sent, at(24))
        .await
        .unwrap();
    assert!(store.notices_claim(1, 10).await.unwrap().is_empty());
    store.notices_release(1, b).await.unwrap();
    assert!(store.notices_lease(1, a, at(25), at(35)).await.unwrap());
    let sent = store.notice_for(1, w.p.id).await.unwrap().unwrap();
    assert_eq!(sent.state, NoticeState::Sent);
    assert_eq!(sent.sent_at, Some(at(24)));
    let practice = store.notices_for_practice(1, w.p.practice).await.unwrap();
    assert_eq!(practice.len(), 2);
}

pub async fn containment_changes_every_named_account_at_once(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let (a, b, c) = (staff(pr.id, "a"), staff(pr.id, "b"), staff(pr.id, "c"));
    for x in [&a, &b, &c] {
        store.account_insert(x).await.unwrap();
    }
    let sessions = [
        session(a.id, 1),
        session(a.id, 2),
        session(b.id, 3),
        session(c.id, 4),
    ];
    for s in &sessions {
        store.session_insert(s).await.unwrap();
    }
    let now = at(20);
    assert_eq!(
        store
            .force_password_reset(&[a.id, b.id], now)
            .await
            .unwrap(),
        2
    );
    for x in [&a, &b] {
        let after = store.account(x.id).await.unwrap().unwrap();
        assert_ne!(
            after.password_hash, x.password_hash,
            "the old password is gone"
        );
    }
    assert_eq!(
        store.account(c.id).await.unwrap().unwrap().password_hash,
        c.password_hash
    );
    for s in &sessions[..3] {
        assert!(
            store
                .session(s.id)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
    }
    assert!(
        store
            .session(sessions[3].id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    // Everyone: only the one still live is counted.
    assert_eq!(store.revoke_sessions(None, now).await.unwrap(), 1);
    assert_eq!(store.revoke_sessions(Some(&[c.id]), now).await.unwrap(), 0);
}
