//! Sign-in state: an account's sessions, second factors, and the throttle's counters.
//! What must hold across web nodes is asserted under concurrency: a TOTP step and a
//! recovery code are each accepted exactly once however many requests race.

use crate::fixtures::*;
use tiaki_crypto::{KekVersion, SealedSecret};
use tiaki_domain::AccountId;
use tiaki_store::{SessionRecord, Store, ThrottleQuery};

async fn doctor(store: &dyn Store, name: &str) -> AccountId {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let a = staff(pr.id, name);
    store.account_insert(&a).await.unwrap();
    a.id
}

pub async fn sessions_of_an_account_list_and_revoke(store: &dyn Store) {
    let me = doctor(store, "doctor").await;
    let other = doctor(store, "other").await;
    let older = session(me, 1);
    let newer = SessionRecord {
        created_at: at(20),
        mfa_verified_at: None,
        ..session(me, 2)
    };
    let expired = SessionRecord {
        expires_at: at(30),
        ..session(me, 3)
    };
    let revoked = session(me, 4);
    let theirs = session(other, 5);
    for s in [&older, &newer, &expired, &revoked, &theirs] {
        store.session_insert(s).await.unwrap();
    }
    store.session_revoke(revoked.id, at(40)).await.unwrap();

    assert_eq!(store.session(newer.id).await.unwrap(), Some(newer.clone()));
    assert_eq!(
        store.session(tiaki_domain::SessionId::new()).await.unwrap(),
        None
    );
    let active = store.sessions_active(me, at(100)).await.unwrap();
    assert_eq!(
        active.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![newer.id, older.id],
        "newest first; expired and revoked left out"
    );

    let n = store
        .sessions_revoke_others(me, Some(newer.id), at(200))
        .await
        .unwrap();
    assert_eq!(
        n, 2,
        "the older and the expired one; the revoked one stays as it was"
    );
    assert_eq!(
        store.session(revoked.id).await.unwrap().unwrap().revoked_at,
        Some(at(40))
    );
    let active = store.sessions_active(me, at(100)).await.unwrap();
    assert_eq!(
        active.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![newer.id]
    );
    assert_eq!(
        store.sessions_active(other, at(100)).await.unwrap().len(),
        1
    );
    assert_eq!(
        store
            .sessions_revoke_others(me, None, at(300))
            .await
            .unwrap(),
        1
    );
    assert!(store.sessions_active(me, at(100)).await.unwrap().is_empty());
    assert_eq!(
        store.session(theirs.id).await.unwrap().unwrap().revoked_at,
        None,
        "another account's session is untouched"
    );
}

fn sealed(byte: u8) -> SealedSecret {
    SealedSecret {
        kek_version: KekVersion(3),
        bytes: vec![byte; 49],
    }
}

pub async fn totp_enrolment_is_confirmed_once_and_steps_never_replay(store: &dyn Store) {
    let me = doctor(store, "doctor").await;
    assert_eq!(store.totp_factor(me).await.unwrap(), None);
    assert!(store.totp_put_pending(me, &sealed(1), at(1)).await.unwrap());
    // A reload of the enrolment page may replace what is still pending.
    assert!(store.totp_put_pending(me, &sealed(2), at(2)).await.unwrap());
    let pending = store.totp_factor(me).await.unwrap().unwrap();
    assert_eq!(pending.secret, sealed(2));
    assert_eq!((pending.confirmed_at, pending.last_step), (None, None));
    assert!(
        !store.totp_use_step(me, 10).await.unwrap(),
        "an unconfirmed authenticator signs nobody in"
    );

    let codes = [[7u8; 32], [8u8; 32]];
    assert!(store.totp_confirm(me, 100, &codes, at(3)).await.unwrap());
    assert!(
        !store.totp_confirm(me, 101, &[], at(4)).await.unwrap(),
        "confirmed once"
    );
    assert!(
        !store.totp_put_pending(me, &sealed(3), at(5)).await.unwrap(),
        "a confirmed authenticator is not overwritten by a new enrolment"
    );
    let confirmed = store.totp_factor(me).await.unwrap().unwrap();
    assert_eq!(confirmed.secret, sealed(2));
    assert_eq!(confirmed.confirmed_at, Some(at(3)));
    assert_eq!(confirmed.last_step, Some(100));
    assert_eq!(store.recovery_codes_unused(me).await.unwrap(), 2);

    assert!(
        !store.totp_use_step(me, 100).await.unwrap(),
        "the confirming step"
    );
    assert!(!store.totp_use_step(me, 99).await.unwrap(), "an older step");
    assert!(store.totp_use_step(me, 101).await.unwrap());

    // Many nodes racing with the same code: exactly one wins.
    let wins = wins((0..16).map(|_| store.totp_use_step(me, 102))).await;
    assert_eq!(wins, 1);
    assert_eq!(
        store.totp_factor(me).await.unwrap().unwrap().last_step,
        Some(102)
    );
    let stranger = AccountId::new();
    assert!(!store.totp_use_step(stranger, 500).await.unwrap());
    assert!(
        !store
            .totp_confirm(stranger, 1, &codes, at(1))
            .await
            .unwrap()
    );
}

pub async fn recovery_codes_are_single_use(store: &dyn Store) {
    let me = doctor(store, "doctor").await;
    let other = doctor(store, "other").await;
    let codes: Vec<[u8; 32]> = (0..10u8).map(|i| [i; 32]).collect();
    store
        .recovery_codes_replace(me, &codes, at(1))
        .await
        .unwrap();
    store
        .recovery_codes_replace(other, &codes[..1], at(1))
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_unused(me).await.unwrap(), 10);

    assert!(store.recovery_code_use(me, &[3; 32], at(2)).await.unwrap());
    assert!(!store.recovery_code_use(me, &[3; 32], at(3)).await.unwrap());
    assert!(!store.recovery_code_use(me, &[42; 32], at(3)).await.unwrap());
    assert_eq!(store.recovery_codes_unused(me).await.unwrap(), 9);
    let wins = wins((0..16).map(|_| store.recovery_code_use(me, &[4; 32], at(4)))).await;
    assert_eq!(wins, 1);
    // Someone else's code is theirs only.
    assert!(
        store
            .recovery_code_use(other, &[0; 32], at(5))
            .await
            .unwrap()
    );
    assert!(store.recovery_code_use(me, &[0; 32], at(5)).await.unwrap());

    store
        .recovery_codes_replace(me, &[[99; 32]], at(6))
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_unused(me).await.unwrap(), 1);
    assert!(
        !store.recovery_code_use(me, &[5; 32], at(7)).await.unwrap(),
        "replaced codes are gone"
    );
}

fn query(subject: u8, address: &str, now_s: i64) -> ThrottleQuery {
    ThrottleQuery {
        subject: [subject; 32],
        address: address.into(),
        window_since: at(now_s - 3600),
        global_since: at(now_s - 300),
        known_since: at(now_s - 90 * 86_400),
    }
}

pub async fn throttle_counters_are_shared_and_scoped(store: &dyn Store) {
    let home = "198.51.100.1";
    let attacker = "203.0.113.66";
    // The attacker tries subject 1 three times, then subjects 2..=5 once each; someone
    // else fails once on subject 1 from another address; a failure long ago counts for
    // nothing.
    let mut last = None;
    for i in 0..3 {
        last = Some(
            store
                .login_failure_record(&[1; 32], attacker, at(100 + i))
                .await
                .unwrap(),
        );
    }
    for s in 2..=5u8 {
        store
            .login_failure_record(&[s; 32], attacker, at(200 + i64::from(s)))
            .await
            .unwrap();
    }
    store
        .login_failure_record(&[1; 32], "192.0.2.9", at(150))
        .await
        .unwrap();
    store
        .login_failure_record(&[1; 32], attacker, at(-10_000))
        .await
        .unwrap();

    let facts = store
        .login_throttle_facts(&query(1, attacker, 300))
        .await
        .unwrap();
    assert_eq!(facts.pair_failures, 3);
    assert_eq!(facts.pair_last_failure, Some(at(102)));
    assert_eq!(facts.account_failures_elsewhere, 1);
    assert_eq!(facts.account_addresses_elsewhere, 1);
    assert_eq!(facts.account_last_failure_elsewhere, Some(at(150)));
    assert_eq!(facts.address_failures, 7);
    assert_eq!(facts.address_subjects, 5);
    assert_eq!(facts.address_last_failure, Some(at(205)));
    assert_eq!(
        facts.global_failures, 8,
        "the last five minutes, everywhere"
    );
    assert!(!facts.known_address);

    // An attempt recorded before checking, then found right, takes its row back.
    store.login_failure_forget(last.unwrap()).await.unwrap();
    let facts = store
        .login_throttle_facts(&query(1, attacker, 300))
        .await
        .unwrap();
    assert_eq!(facts.pair_failures, 2);

    // The owner signs in from home: home becomes known and their failures there clear;
    // the attacker's failures against them stay.
    store
        .login_failure_record(&[1; 32], home, at(250))
        .await
        .unwrap();
    store
        .login_success_record(&[1; 32], home, at(260))
        .await
        .unwrap();
    let owner = store
        .login_throttle_facts(&query(1, home, 300))
        .await
        .unwrap();
    assert!(owner.known_address);
    assert_eq!(owner.pair_failures, 0);
    assert_eq!(owner.account_failures_elsewhere, 3);
    assert_eq!(owner.account_addresses_elsewhere, 2);
    let stale = store
        .login_throttle_facts(&ThrottleQuery {
            known_since: at(1000),
            ..query(1, home, 300)
        })
        .await
        .unwrap();
    assert!(!stale.known_address, "a known address is forgotten in time");
    store
        .login_success_record(&[1; 32], home, at(270))
        .await
        .unwrap();

    let pruned = store.login_failures_prune(at(0)).await.unwrap();
    assert_eq!(pruned, 1, "only the failure older than the cut-off");
    let quiet = store
        .login_throttle_facts(&query(9, "2001:db8::1", 300))
        .await
        .unwrap();
    assert_eq!(
        (
            quiet.pair_failures,
            quiet.address_failures,
            quiet.known_address
        ),
        (0, 0, false)
    );
    assert_eq!(quiet.global_failures, 7);
}

/// Runs every attempt at once and counts how many succeeded.
async fn wins<F>(attempts: impl Iterator<Item = F>) -> usize
where
    F: std::future::Future<Output = Result<bool, tiaki_store::StoreError>>,
{
    futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|won| *won.as_ref().unwrap())
        .count()
}
