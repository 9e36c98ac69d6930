//! Stories about practices, patients, accounts, sessions and settings.

use crate::fixtures::*;
use tiaki_store::{Store, StoreError};

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Conflict(message)) => message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

pub async fn practices_round_trip(store: &dyn Store) {
    let b = practice("Taupō Family Health");
    let a = practice("Awanui Medical");
    store.practice_insert(&b).await.unwrap();
    store.practice_insert(&a).await.unwrap();
    assert_eq!(
        store.practices().await.unwrap(),
        vec![a.clone(), b.clone()],
        "by name"
    );
    assert_eq!(store.practice(b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(
        store
            .practice(tiaki_domain::PracticeId::new())
            .await
            .unwrap(),
        None
    );
    assert_conflict(store.practice_insert(&b).await);
}

pub async fn patients_and_their_keys(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let p = patient(pr.id, 1, "Aroha", "Ngāta");
    store.patient_insert(&p, &key(3)).await.unwrap();
    assert_eq!(
        store.patient(p.id).await.unwrap(),
        Some(p.clone()),
        "exact round trip"
    );
    assert_eq!(store.patient_key(p.id).await.unwrap(), Some(key(3)));
    let nobody = tiaki_domain::PatientId::new();
    assert_eq!(store.patient(nobody).await.unwrap(), None);
    assert_eq!(store.patient_key(nobody).await.unwrap(), None);

    // Same NHI, new id: refused, and its key was not stored either (one transaction).
    let twin = tiaki_store::Patient {
        id: tiaki_domain::PatientId::new(),
        ..p.clone()
    };
    assert_conflict(store.patient_insert(&twin, &key(3)).await);
    assert_eq!(store.patient(twin.id).await.unwrap(), None);
    assert_eq!(store.patient_key(twin.id).await.unwrap(), None);

    // A patient of a practice that does not exist is refused.
    let orphan = patient(tiaki_domain::PracticeId::new(), 200, "Hine", "Walker");
    assert_conflict(store.patient_insert(&orphan, &key(1)).await);
    assert_eq!(store.patient_key(orphan.id).await.unwrap(), None);

    // A patient without an e-mail address round-trips too.
    let quiet = tiaki_store::Patient {
        email: None,
        ..patient(pr.id, 300, "Rawiri", "Paki")
    };
    store.patient_insert(&quiet, &key(1)).await.unwrap();
    assert_eq!(store.patient(quiet.id).await.unwrap(), Some(quiet));
}

pub async fn patient_search_stays_in_its_practice(store: &dyn Store) {
    let a = practice("Awanui Medical");
    let b = practice("Bayview Health");
    store.practice_insert(&a).await.unwrap();
    store.practice_insert(&b).await.unwrap();
    let aroha = patient(a.id, 1, "Aroha", "Ngāta");
    let mere = patient(a.id, 100, "Mere", "Smith");
    let tama = patient(a.id, 200, "Tama", "Smithson");
    let sarah = patient(b.id, 300, "Sarah", "Smith");
    for p in [&tama, &aroha, &sarah, &mere] {
        store.patient_insert(p, &key(1)).await.unwrap();
    }
    let ids =
        |found: Vec<tiaki_store::Patient>| found.into_iter().map(|p| p.id).collect::<Vec<_>>();
    let search = |q: &'static str, limit: u32| store.patient_search(a.id, q, limit);

    assert_eq!(
        ids(search("smith", 50).await.unwrap()),
        vec![mere.id, tama.id],
        "family order"
    );
    assert_eq!(
        ids(search("SMI", 50).await.unwrap()),
        vec![mere.id, tama.id]
    );
    assert_eq!(ids(search("smi", 1).await.unwrap()), vec![mere.id], "limit");
    assert_eq!(
        ids(search("ngata", 50).await.unwrap()),
        vec![aroha.id],
        "macron folded"
    );
    assert_eq!(ids(search("Ngāt", 50).await.unwrap()), vec![aroha.id]);
    assert_eq!(
        ids(search("aro", 50).await.unwrap()),
        vec![aroha.id],
        "given name"
    );
    assert_eq!(
        ids(search("  mere   smi ", 50).await.unwrap()),
        vec![mere.id],
        "given family"
    );
    assert_eq!(
        ids(search("sarah", 50).await.unwrap()),
        Vec::new(),
        "other practice"
    );
    assert_eq!(
        ids(search("sm%", 50).await.unwrap()),
        Vec::new(),
        "no wildcards"
    );
    assert_eq!(ids(search("", 50).await.unwrap()), Vec::new(), "no listing");

    let by_nhi = store
        .patient_search(a.id, mere.nhi.as_str(), 50)
        .await
        .unwrap();
    assert_eq!(by_nhi, vec![mere.clone()]);
    let lower = mere.nhi.as_str().to_lowercase();
    assert_eq!(
        ids(store.patient_search(a.id, &lower, 50).await.unwrap()),
        vec![mere.id]
    );
    let elsewhere = store
        .patient_search(a.id, sarah.nhi.as_str(), 50)
        .await
        .unwrap();
    assert!(
        elsewhere.is_empty(),
        "an NHI from another practice finds nobody"
    );
    let in_b = store.patient_search(b.id, "smith", 50).await.unwrap();
    assert_eq!(ids(in_b), vec![sarah.id]);
}

pub async fn platform_counts_count_each_practice(store: &dyn Store) {
    let a = practice("Awanui Medical");
    let b = practice("Bayview Health");
    store.practice_insert(&a).await.unwrap();
    store.practice_insert(&b).await.unwrap();
    let p1 = patient(a.id, 1, "Aroha", "Ngāta");
    let p2 = patient(a.id, 100, "Mere", "Smith");
    store.patient_insert(&p1, &key(1)).await.unwrap();
    store.patient_insert(&p2, &key(1)).await.unwrap();
    let nurse = staff(a.id, "nurse.a");
    store.account_insert(&nurse).await.unwrap();
    store
        .account_insert(&staff(a.id, "doctor.a"))
        .await
        .unwrap();
    store
        .account_insert(&staff(b.id, "doctor.b"))
        .await
        .unwrap();
    store
        .account_insert(&patient_account(&p1, "aroha"))
        .await
        .unwrap();
    store.account_insert(&operator("privacy")).await.unwrap();
    for offset in [1, 2, 3] {
        let doc = document(&p1, offset, nurse.id);
        store
            .document_insert(&doc, &event(Some(&p1), Some(doc.meta.id)))
            .await
            .unwrap();
    }

    let counts = store.platform_counts().await.unwrap();
    assert_eq!(counts.len(), 2);
    let (ca, cb) = (&counts[0], &counts[1]);
    assert_eq!(ca.practice, a);
    assert_eq!(
        (ca.patients, ca.documents, ca.staff),
        (2, 3, 2),
        "patients and operators are not staff"
    );
    assert_eq!(cb.practice, b);
    assert_eq!((cb.patients, cb.documents, cb.staff), (0, 0, 1));
}

pub async fn accounts_by_id_and_username(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let p = patient(pr.id, 1, "Aroha", "Ngāta");
    store.patient_insert(&p, &key(1)).await.unwrap();
    let doctor = staff(pr.id, "Dr.Mere");
    let me = patient_account(&p, "aroha.ngata");
    let officer = tiaki_store::Account {
        disabled: true,
        ..operator("privacy")
    };
    for a in [&doctor, &me, &officer] {
        store.account_insert(a).await.unwrap();
    }

    let stored = store.account(doctor.id).await.unwrap().unwrap();
    assert_eq!(stored.username, "dr.mere", "stored lower-case");
    assert_eq!(
        stored,
        tiaki_store::Account {
            username: "dr.mere".into(),
            ..doctor.clone()
        }
    );
    assert_eq!(store.account(me.id).await.unwrap(), Some(me.clone()));
    assert_eq!(
        store.account(officer.id).await.unwrap(),
        Some(officer.clone())
    );
    assert_eq!(
        store.account(tiaki_domain::AccountId::new()).await.unwrap(),
        None
    );

    for spelling in ["dr.mere", "DR.MERE", "Dr.Mere"] {
        let found = store.account_by_username(spelling).await.unwrap();
        assert_eq!(found.map(|a| a.id), Some(doctor.id), "{spelling}");
    }
    assert_eq!(store.account_by_username("nobody").await.unwrap(), None);

    let taken = staff(pr.id, "DR.MERE");
    assert_conflict(store.account_insert(&taken).await);
    assert_eq!(store.account(taken.id).await.unwrap(), None);
    let ghost = patient_account(&patient(pr.id, 400, "Ghost", "Patient"), "ghost");
    assert_conflict(store.account_insert(&ghost).await);
}

pub async fn sessions_touch_and_revoke(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let doctor = staff(pr.id, "doctor");
    store.account_insert(&doctor).await.unwrap();
    let s = session(doctor.id, 0xAB);
    store.session_insert(&s).await.unwrap();
    assert_eq!(
        store.session_by_token_hash(&[0xAB; 32]).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        store.session_by_token_hash(&[0xAC; 32]).await.unwrap(),
        None
    );

    store.session_touch(s.id, at(500)).await.unwrap();
    let touched = store
        .session_by_token_hash(&[0xAB; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_seen_at, at(500));
    assert_eq!(touched.revoked_at, None);

    store.session_revoke(s.id, at(600)).await.unwrap();
    store.session_revoke(s.id, at(700)).await.unwrap();
    let revoked = store
        .session_by_token_hash(&[0xAB; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(at(600)),
        "the first revocation is kept"
    );

    let nobody = tiaki_domain::SessionId::new();
    assert!(matches!(
        store.session_touch(nobody, at(1)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.session_revoke(nobody, at(1)).await,
        Err(StoreError::NotFound)
    ));

    let same_token = session(doctor.id, 0xAB);
    assert_conflict(store.session_insert(&same_token).await);
    let bare = tiaki_store::SessionRecord {
        address: None,
        user_agent: None,
        mfa_verified_at: None,
        ..session(doctor.id, 1)
    };
    store.session_insert(&bare).await.unwrap();
    assert_eq!(
        store.session_by_token_hash(&[1; 32]).await.unwrap(),
        Some(bare)
    );
    let stranger = session(tiaki_domain::AccountId::new(), 2);
    assert_conflict(store.session_insert(&stranger).await);
}

pub async fn settings_and_ping(store: &dyn Store) {
    store.ping().await.unwrap();
    assert_eq!(store.setting("demo.seeded").await.unwrap(), None);
    store
        .setting_put("demo.seeded", "2026-01-01")
        .await
        .unwrap();
    assert_eq!(
        store.setting("demo.seeded").await.unwrap().as_deref(),
        Some("2026-01-01")
    );
    store.setting_put("demo.seeded", "again").await.unwrap();
    assert_eq!(
        store.setting("demo.seeded").await.unwrap().as_deref(),
        Some("again")
    );
}

/// Invariant 7: what a conflict says can be logged; it names no person.
pub async fn errors_name_no_one(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let p = patient(pr.id, 1, "Aroha", "Ngāta");
    store.patient_insert(&p, &key(1)).await.unwrap();
    let twin = tiaki_store::Patient {
        id: tiaki_domain::PatientId::new(),
        ..p.clone()
    };
    let message = assert_conflict(store.patient_insert(&twin, &key(1)).await);
    store
        .account_insert(&patient_account(&p, "aroha.secret"))
        .await
        .unwrap();
    let taken = patient_account(&p, "aroha.secret");
    let message2 = assert_conflict(store.account_insert(&taken).await);
    for m in [&message, &message2] {
        for secret in [p.nhi.as_str(), "Aroha", "Ngāta", "aroha.secret", "argon2"] {
            assert!(!m.contains(secret), "{m:?} mentions {secret}");
        }
    }
}
