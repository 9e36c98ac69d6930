//! Email state: verified addresses, one-time links (single use, expiring, the newest
//! replacing older ones, redeemed in one transaction with what they change),
//! invitations that make at most one account per patient even when redemptions race,
//! and the request counters.

use crate::fixtures::*;
use tiaki_domain::{AccountId, InvitationId};
use tiaki_store::{EmailToken, Invitation, Redeemed, Store, TokenPurpose};

fn link(account: AccountId, purpose: TokenPurpose, byte: u8, address: Option<&str>) -> EmailToken {
    EmailToken {
        token_hash: [byte; 32],
        purpose,
        account,
        address: address.map(str::to_owned),
        created_at: at(100 + i64::from(byte)),
        expires_at: at(1_000),
        used_at: None,
    }
}

pub async fn links_verify_addresses_and_reset_passwords_once(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let me = staff(pr.id, "doctor");
    store.account_insert(&me).await.unwrap();
    store.session_insert(&session(me.id, 1)).await.unwrap();
    assert_eq!(store.email_of(me.id).await.unwrap(), None);

    // Verification: the newest link counts; it works once; an expired one never.
    let old = link(
        me.id,
        TokenPurpose::VerifyEmail,
        2,
        Some("Old@Example.test"),
    );
    let new = link(me.id, TokenPurpose::VerifyEmail, 3, Some("Me@Example.test"));
    store.email_token_insert(&old).await.unwrap();
    store.email_token_insert(&new).await.unwrap();
    assert_eq!(
        store
            .email_token_pending(me.id, TokenPurpose::VerifyEmail, at(200))
            .await
            .unwrap()
            .map(|t| t.token_hash),
        Some(new.token_hash)
    );
    assert!(
        store
            .email_verify(&old.token_hash, at(200))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .email_verify(&new.token_hash, at(1_000))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    let verified = store
        .email_verify(&new.token_hash, at(200))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (verified.account, verified.address.as_str()),
        (me.id, "Me@Example.test")
    );
    assert!(
        store
            .email_verify(&new.token_hash, at(201))
            .await
            .unwrap()
            .is_none(),
        "once"
    );
    assert_eq!(
        store.email_of(me.id).await.unwrap().unwrap().address,
        "Me@Example.test"
    );
    assert_eq!(
        store.accounts_by_email("me@example.TEST").await.unwrap(),
        vec![me.id]
    );
    assert!(
        store
            .accounts_by_email("old@example.test")
            .await
            .unwrap()
            .is_empty()
    );

    // Reset: the link is spent, the password set and every session revoked together.
    let reset = link(me.id, TokenPurpose::PasswordReset, 4, None);
    store.email_token_insert(&reset).await.unwrap();
    assert!(
        store
            .email_token_live(&reset.token_hash, TokenPurpose::VerifyEmail, at(200))
            .await
            .unwrap()
            .is_none(),
        "a link is good for its own purpose only"
    );
    assert!(
        store
            .email_token_live(&reset.token_hash, TokenPurpose::PasswordReset, at(200))
            .await
            .unwrap()
            .is_some()
    );
    let done = store
        .password_reset_complete(&reset.token_hash, "$argon2id$new", at(300))
        .await
        .unwrap();
    assert_eq!(done, Some(me.id));
    assert_eq!(
        store.account(me.id).await.unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    assert!(
        store
            .sessions_active(me.id, at(301))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .password_reset_complete(&reset.token_hash, "$argon2id$again", at(301))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.account(me.id).await.unwrap().unwrap().password_hash,
        "$argon2id$new"
    );

    // Sign-ins seen: by address and user agent, full sessions only.
    assert_eq!(
        store
            .sign_in_seen(me.id, "203.0.113.7", "Mozilla/5.0")
            .await
            .unwrap(),
        (true, true)
    );
    assert_eq!(
        store
            .sign_in_seen(me.id, "198.51.100.1", "Mozilla/5.0")
            .await
            .unwrap(),
        (true, false)
    );

    // Counters count per scope.
    let scopes = vec!["a".to_owned(), "b".to_owned()];
    assert_eq!(
        store
            .mail_requests_count(&scopes, at(10), at(0))
            .await
            .unwrap(),
        [1, 1]
    );
    assert_eq!(
        store
            .mail_requests_count(&scopes[..1], at(20), at(0))
            .await
            .unwrap(),
        [2]
    );
    assert_eq!(
        store
            .mail_requests_count(&scopes[..1], at(30), at(15))
            .await
            .unwrap(),
        [2]
    );
}

pub async fn an_invitation_makes_one_account_however_redemptions_race(store: &dyn Store) {
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let admin = staff(pr.id, "admin");
    store.account_insert(&admin).await.unwrap();
    let p = patient(pr.id, 7, "Hine", "Karaka");
    store.patient_insert(&p, &key(1)).await.unwrap();
    let invitation = |byte: u8, created: i64| Invitation {
        id: InvitationId::new(),
        token_hash: [byte; 32],
        patient: p.id,
        practice: pr.id,
        address: "hine@example.test".into(),
        created_by: admin.id,
        created_at: at(created),
        expires_at: at(10_000),
        used_at: None,
        revoked_at: None,
        account: None,
    };
    let first = invitation(1, 10);
    let second = invitation(2, 20);
    store.invitation_insert(&first).await.unwrap();
    store.invitation_insert(&second).await.unwrap();
    let listed = store.invitations_of(p.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, second.id);
    assert!(
        listed[1].revoked_at.is_some(),
        "a newer invitation revokes the older"
    );

    let account_named = |username: &str| tiaki_store::Account {
        id: AccountId::new(),
        ..patient_account(&p, username)
    };
    assert_eq!(
        store
            .invitation_redeem(&first.token_hash, &account_named("hine"), at(30))
            .await
            .unwrap(),
        Redeemed::NotLive
    );
    assert_eq!(
        store
            .invitation_redeem(&second.token_hash, &account_named("admin"), at(30))
            .await
            .unwrap(),
        Redeemed::UsernameTaken
    );
    assert_eq!(
        store
            .invitation_redeem(&second.token_hash, &account_named("hine"), at(10_000))
            .await
            .unwrap(),
        Redeemed::NotLive,
        "expired"
    );

    // Eight redemptions at once: exactly one account.
    let mut racing = Vec::new();
    for n in 0..8 {
        let account = account_named(&format!("hine{n}"));
        racing.push(async move {
            store
                .invitation_redeem(&second.token_hash, &account, at(40))
                .await
                .unwrap()
        });
    }
    let outcomes = futures::future::join_all(racing).await;
    assert_eq!(
        outcomes.iter().filter(|o| **o == Redeemed::Created).count(),
        1,
        "{outcomes:?}"
    );
    let account = store.account_of_patient(p.id).await.unwrap().unwrap();
    assert_eq!(
        store.email_of(account).await.unwrap().unwrap().address,
        "hine@example.test"
    );
    let used = store
        .invitation_by_token(&second.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.account, Some(account));
    assert!(!used.is_live(at(41)));

    // A patient has one login, whatever inserts it.
    let again = account_named("hine.again");
    assert!(store.account_insert(&again).await.is_err());
}
