//! Proxy and guardian grants: stored exactly, one in force per grantee and patient,
//! never changed without their audit event.

use crate::fixtures::*;
use std::sync::Arc;
use tiaki_audit::AuditEvent;
use tiaki_domain::{Access, AccountId, ProxyAccess, ProxyGrantId, ProxyKind, Scope, Scopes};
use tiaki_store::{Account, Patient, Store, StoreError};
use time::Duration;

/// Patient A (whose record is shared) and B (the proxy, with their own login).
struct Family {
    aroha: Patient,
    bruce: Account,
    aroha_login: Account,
}

async fn family(store: &dyn Store) -> Family {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let aroha = patient(pr.id, 1, "Aroha", "Ngāta");
    let bruce_patient = patient(pr.id, 2, "Bruce", "Ngāta");
    store.patient_insert(&aroha, &key(1)).await.unwrap();
    store.patient_insert(&bruce_patient, &key(1)).await.unwrap();
    let aroha_login = patient_account(&aroha, "aroha");
    let bruce = patient_account(&bruce_patient, "bruce");
    store.account_insert(&aroha_login).await.unwrap();
    store.account_insert(&bruce).await.unwrap();
    Family {
        aroha,
        bruce,
        aroha_login,
    }
}

fn grant(f: &Family, created_offset_s: i64, scopes: Scopes) -> ProxyAccess {
    ProxyAccess {
        id: ProxyGrantId::new(),
        kind: ProxyKind::Proxy,
        patient: f.aroha.id,
        grantee: f.bruce.id,
        scopes,
        created_by: f.aroha_login.id,
        created_at: at(created_offset_s),
        expires_at: at(created_offset_s + 30 * 86_400),
        revoked_at: None,
        revoked_by: None,
    }
}

fn grant_event(f: &Family, action: &str) -> AuditEvent {
    AuditEvent {
        action: action.into(),
        actor_account: Some(f.aroha_login.id),
        actor_role: "patient".into(),
        ..event(Some(&f.aroha), None)
    }
}

fn documents_read() -> Scopes {
    Scopes::default().with(Scope::Documents, Some(Access::Read))
}

pub async fn proxy_grants_round_trip_and_a_new_one_replaces_the_old(store: &dyn Store) {
    let f = family(store).await;
    let before = store.audit_count().await.unwrap();
    let first = grant(
        &f,
        100,
        documents_read().with(Scope::Messages, Some(Access::Act)),
    );
    store
        .proxy_grant_insert(&first, &grant_event(&f, "proxy.grant"))
        .await
        .unwrap();
    assert_eq!(store.proxy_grant(first.id).await.unwrap(), Some(first));
    assert_eq!(
        store
            .proxy_grant_between(f.bruce.id, f.aroha.id)
            .await
            .unwrap(),
        Some(first)
    );
    // Nobody else holds anything; and grants are directed.
    assert_eq!(
        store
            .proxy_grant_between(f.aroha_login.id, f.aroha.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .proxy_grant_between(AccountId::new(), f.aroha.id)
            .await
            .unwrap(),
        None
    );

    let second = ProxyAccess {
        kind: ProxyKind::Guardian,
        ..grant(&f, 200, Scopes::all(Access::Act))
    };
    store
        .proxy_grant_insert(&second, &grant_event(&f, "guardian.start"))
        .await
        .unwrap();
    let replaced = store.proxy_grant(first.id).await.unwrap().unwrap();
    assert_eq!(replaced.revoked_at, Some(second.created_at));
    assert_eq!(replaced.revoked_by, Some(second.created_by));
    assert_eq!(
        store
            .proxy_grant_between(f.bruce.id, f.aroha.id)
            .await
            .unwrap(),
        Some(second)
    );
    assert_eq!(
        store.proxy_grants_of_patient(f.aroha.id).await.unwrap(),
        vec![second, replaced]
    );
    assert_eq!(
        store.proxy_grants_held(f.bruce.id).await.unwrap(),
        vec![second]
    );
    assert!(
        store
            .proxy_grants_held(f.aroha_login.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.audit_count().await.unwrap(), before + 2);
}

pub async fn revoking_a_grant_happens_once_with_its_event(store: &dyn Store) {
    let f = family(store).await;
    let g = grant(&f, 100, documents_read());
    store
        .proxy_grant_insert(&g, &grant_event(&f, "proxy.grant"))
        .await
        .unwrap();
    let before = store.audit_count().await.unwrap();
    let revoke = |patient, event: AuditEvent| {
        let by = f.aroha_login.id;
        async move {
            store
                .proxy_grant_revoke(g.id, patient, ProxyKind::Proxy, by, at(500), &event)
                .await
                .unwrap()
        }
    };
    // Named with another patient's id, nothing happens and nothing is recorded.
    let other = patient(f.aroha.practice, 3, "Carla", "Ngāta");
    store.patient_insert(&other, &key(1)).await.unwrap();
    assert!(!revoke(other.id, grant_event(&f, "proxy.revoke")).await);
    assert_eq!(store.audit_count().await.unwrap(), before);
    // A proxy's grant is not ended as if it were a guardian's.
    assert!(
        !store
            .proxy_grant_revoke(
                g.id,
                f.aroha.id,
                ProxyKind::Guardian,
                f.aroha_login.id,
                at(500),
                &grant_event(&f, "guardian.end")
            )
            .await
            .unwrap()
    );
    assert_eq!(store.audit_count().await.unwrap(), before);

    assert!(revoke(f.aroha.id, grant_event(&f, "proxy.revoke")).await);
    assert_eq!(store.audit_count().await.unwrap(), before + 1);
    let ended = store.proxy_grant(g.id).await.unwrap().unwrap();
    assert_eq!(ended.revoked_at, Some(at(500)));
    assert_eq!(ended.revoked_by, Some(f.aroha_login.id));
    assert_eq!(
        store
            .proxy_grant_between(f.bruce.id, f.aroha.id)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .proxy_grants_held(f.bruce.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Again: already ended, nothing recorded.
    assert!(!revoke(f.aroha.id, grant_event(&f, "proxy.revoke")).await);
    assert_eq!(store.audit_count().await.unwrap(), before + 1);
    assert!(
        !store
            .proxy_grant_revoke(
                ProxyGrantId::new(),
                f.aroha.id,
                ProxyKind::Proxy,
                f.aroha_login.id,
                at(600),
                &grant_event(&f, "proxy.revoke")
            )
            .await
            .unwrap()
    );
    assert_eq!(store.audit_count().await.unwrap(), before + 1);
}

/// A grant the database refuses leaves no event behind, and the old grant in force.
pub async fn a_refused_grant_changes_nothing(store: &dyn Store) {
    let f = family(store).await;
    let g = grant(&f, 100, documents_read());
    store
        .proxy_grant_insert(&g, &grant_event(&f, "proxy.grant"))
        .await
        .unwrap();
    let before = store.audit_count().await.unwrap();
    let refused = [
        // No scope at all.
        grant(&f, 200, Scopes::default()),
        // Expiring before it starts.
        ProxyAccess {
            expires_at: at(150),
            ..grant(&f, 200, documents_read())
        },
        // For a patient who does not exist.
        ProxyAccess {
            patient: tiaki_domain::PatientId::new(),
            ..grant(&f, 200, documents_read())
        },
        // Revoked without saying by whom.
        ProxyAccess {
            revoked_at: Some(at(300)),
            ..grant(&f, 200, documents_read())
        },
    ];
    for bad in refused {
        let err = store
            .proxy_grant_insert(&bad, &grant_event(&f, "proxy.grant"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict(_) | StoreError::Unavailable(_)),
            "{err:?}"
        );
        assert_eq!(store.proxy_grant(bad.id).await.unwrap(), None);
    }
    assert_eq!(store.audit_count().await.unwrap(), before);
    assert_eq!(
        store
            .proxy_grant_between(f.bruce.id, f.aroha.id)
            .await
            .unwrap(),
        Some(g)
    );
}

/// Grants racing for one grantee and patient leave exactly one in force, and exactly
/// one event per grant that committed.
pub async fn racing_grants_leave_one_in_force(store: &dyn Store) {
    let f = Arc::new(family(store).await);
    let before = store.audit_count().await.unwrap();
    let results = futures::future::join_all((0..8).map(|i| {
        let f = f.clone();
        async move {
            let g = ProxyAccess {
                created_at: at(100) + Duration::milliseconds(i),
                ..grant(&f, 100, documents_read())
            };
            store
                .proxy_grant_insert(&g, &grant_event(&f, "proxy.grant"))
                .await
        }
    }))
    .await;
    let committed = results.iter().filter(|r| r.is_ok()).count();
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        }
    }
    assert!(committed >= 1);
    let all = store.proxy_grants_of_patient(f.aroha.id).await.unwrap();
    assert_eq!(all.len(), committed);
    assert_eq!(all.iter().filter(|g| g.revoked_at.is_none()).count(), 1);
    assert_eq!(
        store.audit_count().await.unwrap(),
        before + committed as u64
    );
}
