//! Key rotation's queries: counting rows per KEK version in every table that has one,
//! paging through the rows to re-wrap, the compare-and-set re-wrap that never
//! overwrites a concurrent writer, the fence that retires a version, and the servers'
//! reports.

use crate::fixtures::*;
use std::sync::Arc;
use tiaki_crypto::{SealedSecret, SecretPurpose};
use tiaki_domain::AccountId;
use tiaki_store::keys::PATIENT_KEYS_TABLE;
use tiaki_store::{
    KekNode, KekRows, KekVersion, PatientKeyRewrap, SealedSecretRewrap, Store, WrappedPatientKey,
};

fn wrapped(version: u32, byte: u8) -> WrappedPatientKey {
    WrappedPatientKey {
        kek_version: KekVersion(version),
        bytes: vec![byte; 61],
    }
}

fn sealed(version: u32, byte: u8) -> SealedSecret {
    SealedSecret {
        kek_version: KekVersion(version),
        bytes: vec![byte; 45],
    }
}

fn rows_of(rows: &[KekRows], table: &str, version: u32) -> u64 {
    rows.iter()
        .filter(|r| r.table == table && r.version == KekVersion(version))
        .map(|r| r.rows)
        .sum()
}

pub async fn patient_keys_rewrap_only_rows_that_still_hold_what_was_read(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let mut old = Vec::new();
    for n in 0..3u8 {
        let p = patient(pr.id, 10 + 60 * u32::from(n), "Aroha", "Ngāta");
        let key = wrapped(1, n);
        store.patient_insert(&p, &key).await.unwrap();
        old.push((p.id, key));
    }
    let current = patient(pr.id, 300, "Mere", "Tūhoe");
    store
        .patient_insert(&current, &wrapped(2, 9))
        .await
        .unwrap();
    old.sort_by_key(|(id, _)| *id.as_uuid());

    let rows = store.kek_rows().await.unwrap();
    assert_eq!(rows_of(&rows, PATIENT_KEYS_TABLE, 1), 3);
    assert_eq!(rows_of(&rows, PATIENT_KEYS_TABLE, 2), 1);

    // Pages in patient order, with the practice the wrap is bound to.
    let page = store
        .patient_keys_to_rewrap(KekVersion(2), None, 2)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].patient, old[0].0);
    assert_eq!(page[1].patient, old[1].0);
    assert!(page.iter().all(|r| r.practice == pr.id));
    assert_eq!(page[0].key, old[0].1);
    let rest = store
        .patient_keys_to_rewrap(KekVersion(2), Some(page[1].patient), 2)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].patient, old[2].0);
    assert!(
        store
            .patient_keys_to_rewrap(KekVersion(2), Some(rest[0].patient), 2)
            .await
            .unwrap()
            .is_empty()
    );

    // The third re-wrap carries a stale "old" value: it is not written.
    let batch: Vec<PatientKeyRewrap> = old
        .iter()
        .enumerate()
        .map(|(i, (patient, key))| PatientKeyRewrap {
            patient: *patient,
            old: if i == 2 { wrapped(1, 77) } else { key.clone() },
            new: wrapped(2, 100 + u8::try_from(i).unwrap()),
        })
        .collect();
    assert_eq!(store.patient_keys_rewrap(&batch).await.unwrap(), 2);
    assert_eq!(
        store.patient_keys_rewrap(&batch).await.unwrap(),
        0,
        "done once"
    );
    assert_eq!(store.patient_keys_rewrap(&[]).await.unwrap(), 0);
    assert_eq!(
        store.patient_key(old[0].0).await.unwrap(),
        Some(wrapped(2, 100))
    );
    assert_eq!(
        store.patient_key(old[2].0).await.unwrap(),
        Some(old[2].1.clone())
    );
    let rows = store.kek_rows().await.unwrap();
    assert_eq!(rows_of(&rows, PATIENT_KEYS_TABLE, 1), 1);
    assert_eq!(rows_of(&rows, PATIENT_KEYS_TABLE, 2), 3);
    let left = store
        .patient_keys_to_rewrap(KekVersion(2), None, 100)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].patient, old[2].0);
}

pub async fn sealed_secrets_rewrap_never_overwrites_a_new_enrolment(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let mut accounts: Vec<AccountId> = Vec::new();
    for name in ["doctor", "nurse"] {
        let a = staff(pr.id, name);
        store.account_insert(&a).await.unwrap();
        accounts.push(a.id);
    }
    accounts.sort_by_key(|a| *a.as_uuid());
    for (i, a) in accounts.iter().enumerate() {
        let byte = u8::try_from(i).unwrap();
        assert!(
            store
                .totp_put_pending(*a, &sealed(1, byte), at(1))
                .await
                .unwrap()
        );
    }
    let rows = store.kek_rows().await.unwrap();
    assert_eq!(rows_of(&rows, "totp_factors", 1), 2);

    let found = store
        .sealed_secrets_to_rewrap(KekVersion(2), None, 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].account, accounts[0]);
    assert!(found.iter().all(|r| r.purpose == SecretPurpose::Totp));
    assert_eq!(found[1].secret, sealed(1, 1));

    // Between the read and the write, the first account enrols afresh (under the new
    // version, as a server that follows the keyring would).
    assert!(
        store
            .totp_put_pending(accounts[0], &sealed(2, 50), at(2))
            .await
            .unwrap()
    );
    let batch: Vec<SealedSecretRewrap> = found
        .iter()
        .map(|r| SealedSecretRewrap {
            account: r.account,
            purpose: r.purpose,
            old: r.secret.clone(),
            new: sealed(2, 60),
        })
        .collect();
    assert_eq!(store.sealed_secrets_rewrap(&batch).await.unwrap(), 1);
    let first = store.totp_factor(accounts[0]).await.unwrap().unwrap();
    assert_eq!(first.secret, sealed(2, 50), "the new enrolment stands");
    let second = store.totp_factor(accounts[1]).await.unwrap().unwrap();
    assert_eq!(second.secret, sealed(2, 60));
    assert!(
        store
            .sealed_secrets_to_rewrap(KekVersion(2), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let rows = store.kek_rows().await.unwrap();
    assert_eq!(rows_of(&rows, "totp_factors", 1), 0);
    assert_eq!(rows_of(&rows, "totp_factors", 2), 2);
}

/// Once retired, a version can be written by nobody: not a new patient, not an
/// authenticator enrolment, not a re-wrap. What was refused left nothing behind.
pub async fn a_retired_version_can_no_longer_be_written(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let a = staff(pr.id, "doctor");
    store.account_insert(&a).await.unwrap();
    let before = patient(pr.id, 400, "Aroha", "Ngāta");
    store.patient_insert(&before, &wrapped(1, 1)).await.unwrap();
    assert!(store.kek_retired().await.unwrap().is_empty());

    store.kek_retire(&[KekVersion(1)], at(5)).await.unwrap();
    store
        .kek_retire(&[KekVersion(1), KekVersion(0)], at(6))
        .await
        .unwrap();
    assert_eq!(
        store.kek_retired().await.unwrap(),
        vec![KekVersion(0), KekVersion(1)]
    );

    let refused = patient(pr.id, 460, "Mere", "Tūhoe");
    assert!(
        store
            .patient_insert(&refused, &wrapped(1, 2))
            .await
            .is_err()
    );
    assert_eq!(store.patient(refused.id).await.unwrap(), None, "atomic");
    let allowed = patient(pr.id, 520, "Hemi", "Walker");
    store
        .patient_insert(&allowed, &wrapped(2, 3))
        .await
        .unwrap();

    assert!(
        store
            .totp_put_pending(a.id, &sealed(1, 4), at(7))
            .await
            .is_err()
    );
    assert_eq!(store.totp_factor(a.id).await.unwrap(), None);
    assert!(
        store
            .totp_put_pending(a.id, &sealed(2, 4), at(7))
            .await
            .unwrap()
    );

    // A re-wrap onto a retired version is refused too; onto the new one it goes.
    let back = PatientKeyRewrap {
        patient: allowed.id,
        old: wrapped(2, 3),
        new: wrapped(1, 9),
    };
    assert!(store.patient_keys_rewrap(&[back]).await.is_err());
    assert_eq!(
        store.patient_key(allowed.id).await.unwrap(),
        Some(wrapped(2, 3))
    );
    let forward = PatientKeyRewrap {
        patient: before.id,
        old: wrapped(1, 1),
        new: wrapped(2, 5),
    };
    assert_eq!(store.patient_keys_rewrap(&[forward]).await.unwrap(), 1);
    let rows = store.kek_rows().await.unwrap();
    assert_eq!(rows_of(&rows, PATIENT_KEYS_TABLE, 1), 0);
}

pub async fn servers_report_the_keyring_they_use(store: &dyn Store) {
    let node = uuid::Uuid::now_v7();
    let report = |active: u32, held: Vec<u32>, seen: i64| KekNode {
        node,
        active: KekVersion(active),
        held: held.into_iter().map(KekVersion).collect(),
        started_at: at(0),
        seen_at: at(seen),
    };
    store
        .kek_node_report(&report(1, vec![1], 10))
        .await
        .unwrap();
    store
        .kek_node_report(&report(2, vec![1, 2], 20))
        .await
        .unwrap();
    let gone = KekNode {
        node: uuid::Uuid::now_v7(),
        ..report(1, vec![1], -100)
    };
    store.kek_node_report(&gone).await.unwrap();

    let live = store.kek_nodes(at(15)).await.unwrap();
    assert_eq!(live, vec![report(2, vec![1, 2], 20)]);
    assert_eq!(store.kek_nodes(at(-200)).await.unwrap().len(), 2);
    assert_eq!(store.kek_nodes_prune(at(0)).await.unwrap(), 1);
    assert_eq!(store.kek_nodes(at(-200)).await.unwrap().len(), 1);
}

/// Re-wraps racing with new patients and re-enrolments: every row ends under the new
/// version with the value its last writer gave it, and the count agrees.
pub async fn rewraps_race_writers_without_losing_a_row(backend: &crate::Backend) {
    let store: Arc<dyn Store> = backend.store.clone();
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..40u32 {
        let p = patient(pr.id, 100 + n * 60, "Aroha", "Ngāta");
        store
            .patient_insert(&p, &wrapped(1, u8::try_from(n).unwrap()))
            .await
            .unwrap();
        ids.push(p.id);
    }
    let writer = {
        let store = store.clone();
        let practice = pr.id;
        tokio::spawn(async move {
            for n in 0..20u32 {
                let p = patient(practice, 5000 + n * 60, "Mere", "Tūhoe");
                store.patient_insert(&p, &wrapped(2, 200)).await.unwrap();
            }
        })
    };
    let mut moved = 0;
    let mut after = None;
    loop {
        let page = store
            .patient_keys_to_rewrap(KekVersion(2), after, 7)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.patient);
        let batch: Vec<PatientKeyRewrap> = page
            .into_iter()
            .map(|r| PatientKeyRewrap {
                patient: r.patient,
                new: wrapped(2, r.key.bytes[0]),
                old: r.key,
            })
            .collect();
        moved += store.patient_keys_rewrap(&batch).await.unwrap();
    }
    writer.await.unwrap();
    assert_eq!(moved, 40);
    let rows = store.kek_rows().await.unwrap();
    assert_eq!(rows_of(&rows, PATIENT_KEYS_TABLE, 1), 0);
    assert_eq!(rows_of(&rows, PATIENT_KEYS_TABLE, 2), 60);
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(
            store.patient_key(*id).await.unwrap(),
            Some(wrapped(2, u8::try_from(n).unwrap())),
            "the key bytes moved with their row"
        );
    }
}
