//! The guard's shared state: counters that several nodes add to at once and all see
//! the sum of, distinct patients counted once per window, containments that freeze an
//! account and revoke its sessions in one step, alerts, decoys and kill switches.

use crate::fixtures::*;
use std::sync::Arc;
use tiaki_domain::{AccountId, PatientId};
use tiaki_store::{
    Alert, Canary, CanaryKind, Containment, CounterDelta, ModuleState, ModuleSwitch, Severity,
    Store,
};

fn delta(scope: &str, documents: u64, patient: Option<PatientId>) -> CounterDelta {
    CounterDelta {
        scope: scope.to_owned(),
        practice: None,
        role: None,
        documents,
        bytes: documents * 1000,
        patient,
        refusals: 0,
        misses: 0,
    }
}

pub async fn counters_add_up_and_count_each_patient_once(store: &dyn Store) {
    let (w0, w1) = (at(0), at(3600));
    let (p1, p2) = (PatientId::new(), PatientId::new());
    // The previous window.
    store
        .guard_count(w0, at(-3600), &[delta("actor:a", 5, Some(p1))])
        .await
        .unwrap();
    let t = store
        .guard_count(
            w1,
            w0,
            &[delta("actor:a", 1, Some(p1)), delta("address:x", 1, None)],
        )
        .await
        .unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].scope, "actor:a");
    assert_eq!(t[0].current.documents, 1);
    assert_eq!(t[0].current.bytes, 1000);
    assert_eq!(t[0].current.patients, 1);
    assert_eq!(t[0].previous.documents, 5);
    assert_eq!(t[0].previous.patients, 1);
    assert_eq!(t[1].current.documents, 1);
    assert_eq!(t[1].current.patients, 0);
    // The same patient again: a document more, no patient more; a new one counts.
    let t = store
        .guard_count(w1, w0, &[delta("actor:a", 1, Some(p1))])
        .await
        .unwrap();
    assert_eq!((t[0].current.documents, t[0].current.patients), (2, 1));
    let t = store
        .guard_count(w1, w0, &[delta("actor:a", 1, Some(p2))])
        .await
        .unwrap();
    assert_eq!((t[0].current.documents, t[0].current.patients), (3, 2));
    let refused = CounterDelta {
        refusals: 2,
        misses: 1,
        ..delta("actor:a", 0, None)
    };
    let t = store.guard_count(w1, w0, &[refused]).await.unwrap();
    assert_eq!((t[0].current.refusals, t[0].current.misses), (2, 1));
    assert_eq!(t[0].current.documents, 3);

    // Pruning drops old windows only.
    assert!(store.guard_prune(w1).await.unwrap() >= 2);
    let t = store
        .guard_count(w1, w0, &[delta("actor:a", 0, None)])
        .await
        .unwrap();
    assert_eq!(t[0].previous.documents, 0);
    assert_eq!(t[0].current.documents, 3);
}

/// Two nodes (two stores opened on one database) count the same actor at once: the
/// sum is exact and the highest answer sees all of it.
pub async fn concurrent_counting_loses_nothing(backend: &crate::Backend) {
    let second: Arc<dyn Store> = tiaki_store::open_store(&backend.location).await.unwrap();
    let nodes = [backend.store.clone(), second];
    let store = nodes[0].clone();
    let mut tasks = Vec::new();
    for n in 0..40_u32 {
        let store = nodes[n as usize % 2].clone();
        tasks.push(tokio::spawn(async move {
            let p = PatientId::from_uuid(uuid::Uuid::from_u128(u128::from(n % 10) + 1));
            store
                .guard_count(at(0), at(-3600), &[delta("actor:race", 1, Some(p))])
                .await
                .unwrap()
        }));
    }
    let mut highest = 0;
    for t in tasks {
        let totals = t.await.unwrap();
        highest = highest.max(totals[0].current.documents);
    }
    assert_eq!(highest, 40);
    let t = store
        .guard_count(at(0), at(-3600), &[delta("actor:race", 0, None)])
        .await
        .unwrap();
    assert_eq!((t[0].current.documents, t[0].current.patients), (40, 10));
}

pub async fn baseline_is_the_mean_of_a_role_at_a_practice(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let other = practice("Elsewhere");
    store.practice_insert(&other).await.unwrap();
    for (scope, window, practice, role, patients) in [
        ("actor:1", 0, pr.id, "clinician", 4_u32),
        ("actor:1", 3600, pr.id, "clinician", 8),
        ("actor:2", 0, pr.id, "clinician", 6),
        ("actor:3", 0, pr.id, "reception", 50),
        ("actor:4", 0, other.id, "clinician", 90),
        ("actor:1", 7200, pr.id, "clinician", 100), // the current window: excluded
    ] {
        for n in 0..patients {
            let d = CounterDelta {
                practice: Some(practice),
                role: Some(role.to_owned()),
                ..delta(
                    scope,
                    1,
                    Some(PatientId::from_uuid(uuid::Uuid::from_u128(
                        u128::from(n) + 1,
                    ))),
                )
            };
            store
                .guard_count(at(window), at(window - 3600), &[d])
                .await
                .unwrap();
        }
    }
    let (mean, n) = store
        .guard_baseline(pr.id, "clinician", at(0), at(7200))
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert!((mean - 6.0).abs() < 1e-9, "mean {mean}");
    let (mean, n) = store
        .guard_baseline(pr.id, "nurse", at(0), at(7200))
        .await
        .unwrap();
    assert_eq!((mean, n), (0.0, 0));
}

pub async fn containment_freezes_revokes_and_releases(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let a = staff(pr.id, "doctor");
    store.account_insert(&a).await.unwrap();
    let op = operator("operator");
    store.account_insert(&op).await.unwrap();
    let s1 = session(a.id, 1);
    let s2 = session(a.id, 2);
    store.session_insert(&s1).await.unwrap();
    store.session_insert(&s2).await.unwrap();

    let c = Containment {
        id: uuid::Uuid::now_v7(),
        scope: format!("actor:{}", a.id.as_uuid()),
        account: Some(a.id),
        detector: "canary".into(),
        reason: "read of a decoy".into(),
        created_at: at(10),
        created_by: None,
        released_at: None,
        released_by: None,
        release_reason: None,
    };
    store.containment_insert(&c).await.unwrap();
    assert!(store.account(a.id).await.unwrap().unwrap().disabled);
    for s in [s1.id, s2.id] {
        assert!(
            store
                .session(s)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
    }
    assert_eq!(store.containments_active().await.unwrap(), vec![c.clone()]);

    // A second containment of the same account: released one at a time.
    let c2 = Containment {
        id: uuid::Uuid::now_v7(),
        detector: "operator".into(),
        created_at: at(20),
        created_by: Some(op.id),
        ..c.clone()
    };
    store.containment_insert(&c2).await.unwrap();
    assert!(
        store
            .containment_release(c.id, Some(op.id), "false alarm", at(30))
            .await
            .unwrap()
    );
    assert!(
        store.account(a.id).await.unwrap().unwrap().disabled,
        "still contained by the other"
    );
    assert!(
        !store
            .containment_release(c.id, Some(op.id), "again", at(31))
            .await
            .unwrap(),
        "released once"
    );
    assert!(
        store
            .containment_release(c2.id, None, "console", at(32))
            .await
            .unwrap()
    );
    assert!(!store.account(a.id).await.unwrap().unwrap().disabled);
    assert!(store.containments_active().await.unwrap().is_empty());
    let recent = store.containments_recent(10).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].id, c2.id, "newest first");
    assert_eq!(recent[1].released_by, Some(op.id));
    assert_eq!(recent[1].release_reason.as_deref(), Some("false alarm"));
    // Sessions stay revoked: the person signs in afresh.
    assert!(
        store
            .session(s1.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );

    // An address containment touches no account.
    let addr = Containment {
        id: uuid::Uuid::now_v7(),
        scope: "address:192.0.2.7".into(),
        account: None,
        ..c.clone()
    };
    store.containment_insert(&addr).await.unwrap();
    assert_eq!(store.containments_active().await.unwrap().len(), 1);
    assert!(
        !store
            .containment_release(uuid::Uuid::now_v7(), None, "nothing", at(40))
            .await
            .unwrap()
    );
    // An unknown account cannot be contained.
    let ghost = Containment {
        id: uuid::Uuid::now_v7(),
        account: Some(AccountId::new()),
        ..c
    };
    assert!(store.containment_insert(&ghost).await.is_err());
    assert_eq!(
        store.containments_active().await.unwrap().len(),
        1,
        "nothing half-written"
    );
}

pub async fn alerts_decoys_and_switches_round_trip(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let alerts: Vec<Alert> = (0..3)
        .map(|n| Alert {
            id: uuid::Uuid::now_v7(),
            at: at(n),
            severity: [Severity::Info, Severity::Warning, Severity::Critical][n as usize],
            detector: "budget.documents".into(),
            scope: "actor:x".into(),
            account: None,
            practice: Some(pr.id),
            summary: format!("alert {n}"),
            containment: None,
        })
        .collect();
    for a in &alerts {
        store.alert_insert(a).await.unwrap();
    }
    let back = store.alerts_recent(2).await.unwrap();
    assert_eq!(back, vec![alerts[2].clone(), alerts[1].clone()]);

    let p = patient(pr.id, 1, "Mere", "Tawhiri");
    store.patient_insert(&p, &key(1)).await.unwrap();
    let canary = Canary {
        id: *p.id.as_uuid(),
        kind: CanaryKind::Patient,
        practice: pr.id,
        created_at: at(5),
    };
    store.canary_insert(&canary).await.unwrap();
    assert!(
        store.canary_insert(&canary).await.is_err(),
        "registered once"
    );
    assert_eq!(store.canaries().await.unwrap(), vec![canary]);

    assert!(store.module_switches().await.unwrap().is_empty());
    let closed = ModuleSwitch {
        module: "documents".into(),
        state: ModuleState::Closed,
        reason: "incident 4".into(),
        changed_at: at(7),
        changed_by: None,
    };
    store.module_switch_put(&closed).await.unwrap();
    let open = ModuleSwitch {
        state: ModuleState::Open,
        reason: "all clear".into(),
        changed_at: at(8),
        ..closed
    };
    store.module_switch_put(&open).await.unwrap();
    assert_eq!(store.module_switches().await.unwrap(), vec![open]);
}
