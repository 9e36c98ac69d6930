//! Changing a password while signed in: it needs the current password and a current
//! second factor in the same request; on success every other session ends, this one
//! gets a new token (the old one is dead), the owner is told by email, and the change
//! is in the audit log.

use super::harness::{Login, PASSWORD};
use super::mailbox::{subject, wait_for, world_with_outbox};
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

const NEW_PASSWORD: &str = "tui song at the harbour mouth";

async fn status_of(world: &super::harness::World, token: &str) -> u16 {
    world
        .client
        .get(world.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn change(
    world: &super::harness::World,
    login: &Login,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = world
        .api(Method::POST, "/api/v1/account/password", Some(login))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_change_needs_both_secrets_and_ends_every_other_session() {
    let m = world_with_outbox().await;
    let world = &m.world;
    let account = world
        .store
        .account_by_username("patient.c")
        .await
        .unwrap()
        .unwrap();
    world
        .core
        .set_verified_email(account.id, "carla@example.test")
        .await
        .unwrap();
    let here = world.login("patient.c").await;
    let elsewhere = world.login("patient.c").await;

    // A stolen session alone cannot change the password: wrong current password, or
    // the right one with a wrong code, get the same answer and change nothing.
    let wrong_password = change(
        world,
        &here,
        serde_json::json!({ "current_password": "not my password", "totp": world.totp_now("patient.c"), "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(wrong_password.0, 400);
    assert_eq!(wrong_password.1["code"], "reauthentication_failed");
    let wrong_code = change(
        world,
        &here,
        serde_json::json!({ "current_password": PASSWORD, "totp": "000000", "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(wrong_code, wrong_password);
    let no_code = change(
        world,
        &here,
        serde_json::json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(no_code.0, 400);
    // The policy applies, and says why.
    let weak = change(
        world,
        &here,
        serde_json::json!({ "current_password": PASSWORD, "recovery_code": world.recovery_code("patient.c").await, "new_password": "patient.c2024" }),
    )
    .await;
    assert_eq!(weak.0, 400);
    assert!(
        matches!(
            weak.1["code"].as_str(),
            Some("password_guessable" | "password_common")
        ),
        "{:?}",
        weak.1
    );
    assert_eq!(status_of(world, &here.token).await, 200);
    assert_eq!(status_of(world, &elsewhere.token).await, 200);

    let (status, body) = change(
        world,
        &here,
        serde_json::json!({ "current_password": PASSWORD, "totp": world.totp_now("patient.c"), "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let new_token = body["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, here.token);
    assert_eq!(
        status_of(world, &here.token).await,
        401,
        "the old token is dead"
    );
    assert_eq!(
        status_of(world, &elsewhere.token).await,
        401,
        "other sessions end"
    );
    assert_eq!(status_of(world, &new_token).await, 200);

    // The new password signs in (with a second factor); the old one does not.
    let old = world
        .core
        .login(
            "patient.c",
            &secrecy::SecretString::from(PASSWORD),
            Some(&tiaki_core::auth::SecondFactor::RecoveryCode(
                world.recovery_code("patient.c").await.into(),
            )),
            &Default::default(),
            None,
        )
        .await;
    assert!(old.is_err());
    let fresh = world
        .core
        .login(
            "patient.c",
            &secrecy::SecretString::from(NEW_PASSWORD),
            Some(&tiaki_core::auth::SecondFactor::RecoveryCode(
                world.recovery_code("patient.c").await.into(),
            )),
            &Default::default(),
            None,
        )
        .await;
    assert!(fresh.is_ok());

    let notice = wait_for(&m.outbox, "carla@example.test", "was changed", 1).await;
    assert_eq!(subject(&notice[0]), "Your Tiaki password was changed");
    assert!(!notice[0].contains(NEW_PASSWORD));

    let events = super::mailbox::audit_actions(world).await;
    assert!(events.contains(&("account.password.change".to_owned(), "allowed".to_owned())));
    assert!(events.contains(&("account.password.change".to_owned(), "denied".to_owned())));
}

#[tokio::test]
async fn the_page_changes_it_inline_and_gives_this_browser_a_new_session() {
    let m = world_with_outbox().await;
    let world = &m.world;
    let desk = world.login("patient.b").await;
    let other = world.login("patient.b").await;
    let page = world
        .page(Method::GET, "/account/password", Some(&desk))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let post = |code: String, new: &'static str, confirm: &'static str| {
        world
            .page(Method::POST, "/account/password", Some(&desk))
            .form(&[
                ("csrf", desk.csrf.clone()),
                ("current_password", PASSWORD.to_owned()),
                ("code", code),
                ("new_password", new.to_owned()),
                ("confirm", confirm.to_owned()),
            ])
            .send()
    };
    let mismatch = post("123456".into(), NEW_PASSWORD, "typo").await.unwrap();
    assert_eq!(mismatch.status(), 400);
    let wrong = post("000000".into(), NEW_PASSWORD, NEW_PASSWORD)
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains("id=\"change-error\""));
    let forged = world
        .page(Method::POST, "/account/password", Some(&desk))
        .form(&[
            ("csrf", "forged"),
            ("current_password", PASSWORD),
            ("code", "1"),
            ("new_password", NEW_PASSWORD),
            ("confirm", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let done = post(world.totp_now("patient.b"), NEW_PASSWORD, NEW_PASSWORD)
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()[LOCATION], "/account/password?done=1");
    let cookie = done.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    let new_token = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    assert_ne!(new_token, desk.token);
    assert_eq!(status_of(world, &desk.token).await, 401);
    assert_eq!(status_of(world, &other.token).await, 401);
    let after = world
        .client
        .get(world.url("/account/password?done=1"))
        .header(COOKIE, format!("__Host-tiaki_session={new_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    assert!(
        after
            .text()
            .await
            .unwrap()
            .contains("Your password is changed")
    );
}
