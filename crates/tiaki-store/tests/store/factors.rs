//! Passkeys, WebAuthn ceremonies, trusted devices and session factor marks. What must
//! hold across web nodes is asserted under concurrency: a ceremony is taken exactly
//! once, and racing deletions never remove an account's last passkey.

use crate::fixtures::*;
use std::sync::Arc;
use tiaki_crypto::{KekVersion, SealedSecret};
use tiaki_domain::ids::{PasskeyId, TrustedDeviceId};
use tiaki_domain::{AccountId, SessionId};
use tiaki_store::factors::{Ceremony, CeremonyKind, PasskeyDeletion, PasskeyRecord, TrustedDevice};
use tiaki_store::{Store, StoreError};

async fn someone(store: &dyn Store, name: &str) -> AccountId {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let a = staff(pr.id, name);
    store.account_insert(&a).await.unwrap();
    a.id
}

fn passkey(account: AccountId, credential: u8, created: i64) -> PasskeyRecord {
    PasskeyRecord {
        id: PasskeyId::new(),
        account,
        credential_id: vec![credential; 16],
        name: format!("Key {credential}"),
        passkey: format!("{{\"cred\":{credential}}}"),
        created_at: at(created),
        last_used_at: None,
    }
}

fn device(account: AccountId, secret: u8, created: i64) -> TrustedDevice {
    TrustedDevice {
        id: TrustedDeviceId::new(),
        account,
        secret_hash: [secret; 32],
        created_at: at(created),
        expires_at: at(created + 30 * 86_400),
        last_used_at: None,
        revoked_at: None,
        address: Some("203.0.113.9".into()),
        user_agent: Some("Firefox".into()),
    }
}

pub async fn sessions_record_factors_and_step_up_rotates_the_token(store: &dyn Store) {
    let me = someone(store, "doctor").await;
    let s = session(me, 1);
    store.session_insert(&s).await.unwrap();
    let marks = store.session_factor(s.id).await.unwrap().unwrap();
    assert_eq!((marks.factor_at, marks.trusted_device), (None, None));

    let d = device(me, 9, 5);
    store.device_insert(&d).await.unwrap();
    store
        .session_factor_put(s.id, None, Some(d.id))
        .await
        .unwrap();
    let marks = store.session_factor(s.id).await.unwrap().unwrap();
    assert_eq!(marks.trusted_device, Some(d.id));
    assert!(matches!(
        store
            .session_factor_put(SessionId::new(), Some(at(1)), None)
            .await,
        Err(StoreError::NotFound)
    ));

    assert!(store.session_step_up(s.id, &[7; 32], at(50)).await.unwrap());
    assert!(
        store
            .session_by_token_hash(&[1; 32])
            .await
            .unwrap()
            .is_none()
    );
    let now = store
        .session_by_token_hash(&[7; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.id, s.id);
    let marks = store.session_factor(s.id).await.unwrap().unwrap();
    assert_eq!(marks.factor_at, Some(at(50)));
    assert_eq!(store.session_factors_of(me).await.unwrap(), vec![marks]);

    store.session_revoke(s.id, at(60)).await.unwrap();
    assert!(!store.session_step_up(s.id, &[8; 32], at(70)).await.unwrap());
    assert!(
        store
            .session_by_token_hash(&[8; 32])
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.session_factors_of(me).await.unwrap().is_empty());
}

pub async fn passkeys_round_trip_and_belong_to_one_account(store: &dyn Store) {
    let me = someone(store, "doctor").await;
    let other = someone(store, "nurse").await;
    let second = passkey(me, 2, 20);
    let first = passkey(me, 1, 10);
    store.passkey_insert(&second).await.unwrap();
    store.passkey_insert(&first).await.unwrap();
    store.passkey_insert(&passkey(other, 3, 5)).await.unwrap();
    assert_eq!(
        store.passkeys_of(me).await.unwrap(),
        vec![first.clone(), second.clone()],
        "oldest first, only mine"
    );
    // The same credential cannot be registered twice, to anyone.
    let copy = PasskeyRecord {
        id: PasskeyId::new(),
        ..passkey(other, 1, 30)
    };
    assert!(matches!(
        store.passkey_insert(&copy).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.passkey_by_credential(&[1; 16]).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.passkey_by_credential(&[4; 16]).await.unwrap(), None);

    store
        .passkey_used(first.id, "{\"cred\":1,\"counter\":2}", at(40))
        .await
        .unwrap();
    let used = store
        .passkey_by_credential(&[1; 16])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.last_used_at, Some(at(40)));
    assert_eq!(used.passkey, "{\"cred\":1,\"counter\":2}");
    assert!(matches!(
        store.passkey_used(PasskeyId::new(), "{}", at(1)).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn the_last_factor_is_never_deleted(store: &dyn Store) {
    let me = someone(store, "doctor").await;
    let other = someone(store, "nurse").await;
    let a = passkey(me, 1, 10);
    let b = passkey(me, 2, 20);
    store.passkey_insert(&a).await.unwrap();
    store.passkey_insert(&b).await.unwrap();
    // Someone else's passkey, or none, is not found.
    assert_eq!(
        store.passkey_delete(other, a.id, true).await.unwrap(),
        PasskeyDeletion::NotFound
    );
    assert_eq!(
        store
            .passkey_delete(me, PasskeyId::new(), true)
            .await
            .unwrap(),
        PasskeyDeletion::NotFound
    );
    assert_eq!(
        store.passkey_delete(me, a.id, false).await.unwrap(),
        PasskeyDeletion::Deleted
    );
    assert_eq!(
        store.passkey_delete(me, b.id, true).await.unwrap(),
        PasskeyDeletion::LastFactor,
        "no authenticator app either"
    );
    // With a confirmed authenticator app, the last passkey may go, if it counts.
    let sealed = SealedSecret {
        kek_version: KekVersion(1),
        bytes: vec![5; 40],
    };
    assert!(store.totp_put_pending(me, &sealed, at(30)).await.unwrap());
    assert_eq!(
        store.passkey_delete(me, b.id, true).await.unwrap(),
        PasskeyDeletion::LastFactor,
        "an enrolment in progress is not a factor"
    );
    assert!(store.totp_confirm(me, 1, &[], at(31)).await.unwrap());
    assert_eq!(
        store.passkey_delete(me, b.id, false).await.unwrap(),
        PasskeyDeletion::LastFactor,
        "staff whose authenticator app does not count"
    );
    assert_eq!(
        store.passkey_delete(me, b.id, true).await.unwrap(),
        PasskeyDeletion::Deleted
    );
    assert!(store.passkeys_of(me).await.unwrap().is_empty());
}

pub async fn racing_deletions_keep_one_passkey(backend: &crate::Backend) {
    let store: Arc<dyn Store> = backend.store.clone();
    let me = someone(store.as_ref(), "doctor").await;
    let keys: Vec<PasskeyRecord> = (1..=4).map(|n| passkey(me, n, i64::from(n))).collect();
    for k in &keys {
        store.passkey_insert(k).await.unwrap();
    }
    let tasks: Vec<_> = keys
        .iter()
        .map(|k| {
            let store = store.clone();
            let id = k.id;
            tokio::spawn(async move { store.passkey_delete(me, id, false).await.unwrap() })
        })
        .collect();
    let mut deleted = 0;
    for t in tasks {
        if t.await.unwrap() == PasskeyDeletion::Deleted {
            deleted += 1;
        }
    }
    assert_eq!(deleted, 3);
    assert_eq!(store.passkeys_of(me).await.unwrap().len(), 1);
}

pub async fn ceremonies_are_taken_once_and_expire(backend: &crate::Backend) {
    let store: Arc<dyn Store> = backend.store.clone();
    let me = someone(store.as_ref(), "doctor").await;
    let live = Ceremony {
        id: uuid::Uuid::new_v4(),
        kind: CeremonyKind::Register,
        account: Some(me),
        session: Some(SessionId::new()),
        state: "{\"challenge\":\"abc\"}".into(),
        expires_at: at(400),
    };
    let stale = Ceremony {
        id: uuid::Uuid::new_v4(),
        kind: CeremonyKind::Discover,
        account: None,
        session: None,
        expires_at: at(150),
        ..live.clone()
    };
    store.ceremony_put(&stale, at(100)).await.unwrap();
    // Putting another prunes every expired one.
    store.ceremony_put(&live, at(200)).await.unwrap();
    assert_eq!(store.ceremony_take(stale.id).await.unwrap(), None);

    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let id = live.id;
            tokio::spawn(async move { store.ceremony_take(id).await.unwrap() })
        })
        .collect();
    let mut taken = Vec::new();
    for r in racers {
        if let Some(c) = r.await.unwrap() {
            taken.push(c);
        }
    }
    assert_eq!(taken, vec![live]);
}

pub async fn trusted_devices_list_and_revoke(store: &dyn Store) {
    let me = someone(store, "doctor").await;
    let other = someone(store, "nurse").await;
    let old = device(me, 1, 10);
    let new = device(me, 2, 20);
    let expired = TrustedDevice {
        expires_at: at(50),
        ..device(me, 3, 30)
    };
    let theirs = device(other, 4, 40);
    for d in [&old, &new, &expired, &theirs] {
        store.device_insert(d).await.unwrap();
    }
    assert_eq!(store.device(old.id).await.unwrap(), Some(old.clone()));
    let active = store.devices_active(me, at(100)).await.unwrap();
    assert_eq!(
        active.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![new.id, old.id],
        "newest first; expired left out"
    );
    store.device_used(old.id, at(110)).await.unwrap();
    assert_eq!(
        store.device(old.id).await.unwrap().unwrap().last_used_at,
        Some(at(110))
    );

    // One account cannot revoke another's device.
    assert!(!store.device_revoke(other, old.id, at(120)).await.unwrap());
    assert!(store.device_revoke(me, old.id, at(120)).await.unwrap());
    assert!(
        !store.device_revoke(me, old.id, at(130)).await.unwrap(),
        "once"
    );
    assert_eq!(
        store.device(old.id).await.unwrap().unwrap().revoked_at,
        Some(at(120))
    );
    assert_eq!(store.devices_revoke_all(me, at(140)).await.unwrap(), 2);
    assert!(store.devices_active(me, at(100)).await.unwrap().is_empty());
    assert_eq!(
        store.devices_active(other, at(100)).await.unwrap(),
        vec![theirs]
    );
}
