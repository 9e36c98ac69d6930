//! Guessing at scale is throttled without letting anyone lock an owner out, and
//! throttling says nothing about which usernames exist.

use super::harness::{Backend, PASSWORD, World};
use super::sessions::api_login_with;
use reqwest::header::RETRY_AFTER;
use secrecy::SecretString;
use std::net::IpAddr;
use std::time::Instant;
use tiaki_audit::RequestContext;
use tiaki_core::CoreError;
use tiaki_core::auth::SecondFactor;
use tiaki_crypto::TotpSecret;
use tiaki_domain::{AccountId, ActorKind, StaffRole};
use tiaki_store::Account;
use time::OffsetDateTime;

fn from(address: &str) -> RequestContext {
    RequestContext {
        address: Some(address.parse::<IpAddr>().unwrap()),
        purpose: None,
    }
}

fn code(secret: &TotpSecret) -> SecondFactor {
    let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    SecondFactor::Totp(SecretString::from(secret.code_at(now).unwrap()))
}

/// `n` staff accounts sharing one password hash (hashing 100 passwords would only
/// slow the test down).
async fn accounts(world: &World, n: usize) -> Vec<Account> {
    let practice = world
        .store
        .patient(world.patient_a)
        .await
        .unwrap()
        .unwrap()
        .practice;
    let hash = world
        .core
        .hash_password(&SecretString::from(PASSWORD))
        .await
        .unwrap();
    let mut made = Vec::with_capacity(n);
    for i in 0..n {
        let account = Account {
            id: AccountId::new(),
            username: format!("staff.{i:03}"),
            display_name: format!("Staff {i}"),
            password_hash: hash.clone(),
            kind: ActorKind::Staff {
                practice,
                role: StaffRole::Nurse,
            },
            disabled: false,
            created_at: OffsetDateTime::now_utc(),
        };
        world.store.account_insert(&account).await.unwrap();
        made.push(account);
    }
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_stuffing_from_one_address_is_throttled_while_owners_still_sign_in() {
    // The staff here sign in with an authenticator app, which the configuration must allow.
    let world = World::start_with(Backend::Sqlite, super::mfa::staff_totp()).await;
    let staff = accounts(&world, 100).await;
    let home = "198.51.100.7";
    let attacker = "203.0.113.66";
    // One owner has signed in from home before; another has never signed in.
    let owner = &staff[42];
    let owner_factors = world.core.provision_totp(owner.id).await.unwrap();
    let owner_totp = owner_factors.totp;
    let newcomer = &staff[77];
    let newcomer_totp = world.core.provision_totp(newcomer.id).await.unwrap().totp;
    world
        .core
        .login(
            &owner.username,
            &SecretString::from(PASSWORD),
            Some(&code(&owner_totp)),
            &from(home),
            None,
        )
        .await
        .unwrap();

    // 1,000 attempts over the 100 accounts from one address: ten passwords from a
    // breach list for each, the last of them the right one (but no second factor).
    let started = Instant::now();
    let (mut answered, mut throttled) = (0u32, 0u32);
    for round in 0..10 {
        for account in &staff {
            let password = if round == 9 {
                PASSWORD.to_owned()
            } else {
                format!("Summer202{round}!")
            };
            match world
                .core
                .login(
                    &account.username,
                    &SecretString::from(password),
                    None,
                    &from(attacker),
                    None,
                )
                .await
            {
                Err(CoreError::SecondFactorRequired) => answered += 1,
                Err(CoreError::Throttled { retry_after_secs }) => {
                    assert!((1..=15 * 60).contains(&retry_after_secs));
                    throttled += 1;
                }
                other => panic!("the attacker got {other:?}"),
            }
        }
    }
    println!(
        "credential stuffing: {answered} of 1000 attempts were answered, {throttled} throttled, \
         in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(answered + throttled, 1000);
    assert!(answered <= 25, "{answered} attempts got a real answer");

    // The owners are not locked out: from home, and from an address never seen before.
    // (The owner's TOTP code of a moment ago is spent: a recovery code this time.)
    let recovery = SecondFactor::RecoveryCode(SecretString::from(
        owner_factors.recovery_codes[0].to_string(),
    ));
    let session = world
        .core
        .login(
            &owner.username,
            &SecretString::from(PASSWORD),
            Some(&recovery),
            &from(home),
            None,
        )
        .await;
    assert!(session.is_ok(), "owner at home: {session:?}");
    let session = world
        .core
        .login(
            &newcomer.username,
            &SecretString::from(PASSWORD),
            Some(&code(&newcomer_totp)),
            &from("192.0.2.200"),
            None,
        )
        .await;
    assert!(session.is_ok(), "owner on a new address: {session:?}");

    // The attacker's address stays refused, even with a right password and code.
    let refused = world
        .core
        .login(
            &newcomer.username,
            &SecretString::from(PASSWORD),
            Some(&code(&newcomer_totp)),
            &from(attacker),
            None,
        )
        .await;
    assert!(
        matches!(refused, Err(CoreError::Throttled { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn account_back_off_answers_the_same_401_with_retry_after_known_user_or_not() {
    let world = World::start().await;
    let attempt = |username: &str| serde_json::json!({ "username": username, "password": "not the password", "totp": "123456" });
    let mut bodies = Vec::new();
    for username in ["patient.b", "ghost.nobody"] {
        for _ in 0..5 {
            let (status, body, _) = api_login_with(&world, attempt(username)).await;
            assert_eq!(status, 401);
            bodies.push(body);
        }
    }
    for username in ["patient.b", "ghost.nobody"] {
        let response = world
            .client
            .post(world.url("/api/v1/sessions"))
            .json(&attempt(username))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{username}");
        let wait: u64 = response.headers()[RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&wait), "{username}: Retry-After {wait}");
        bodies.push(response.text().await.unwrap());
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "one body for everything: {bodies:?}");

    // Another account from the same address is unaffected.
    let (status, _, _) = api_login_with(
        &world,
        serde_json::json!({ "username": "patient.c", "password": PASSWORD,
            "totp": world.totp_now("patient.c") }),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn spraying_is_refused_and_nothing_lasts_for_ever() {
    let mut config = tiaki_core::CoreConfig::default();
    config.throttle.max_backoff_seconds = 2;
    let world = World::start_with(Backend::Sqlite, config).await;
    let sprayer = "203.0.113.9";
    // One common password against ten usernames, real and made up alike.
    for username in (0..10).map(|i| format!("user.{i}")) {
        let r = world
            .core
            .login(
                &username,
                &SecretString::from("Winter2025!"),
                None,
                &from(sprayer),
                None,
            )
            .await;
        assert!(matches!(r, Err(CoreError::SecondFactorRequired)), "{r:?}");
    }
    let r = world
        .core
        .login(
            "patient.a",
            &SecretString::from("Winter2025!"),
            None,
            &from(sprayer),
            None,
        )
        .await;
    assert!(
        matches!(r, Err(CoreError::Throttled { .. })),
        "spray: {r:?}"
    );
    // The owner elsewhere is not affected.
    let code = SecondFactor::Totp(SecretString::from(world.totp_now("patient.a")));
    let ok = world
        .core
        .login(
            "patient.a",
            &SecretString::from(PASSWORD),
            Some(&code),
            &from("198.51.100.1"),
            None,
        )
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    // And the refusal runs out.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let r = world
        .core
        .login(
            "patient.b",
            &SecretString::from("Winter2025!"),
            None,
            &from(sprayer),
            None,
        )
        .await;
    assert!(
        matches!(r, Err(CoreError::SecondFactorRequired)),
        "after the wait: {r:?}"
    );
}
