//! Email addresses: added, confirmed by a single-use, short-lived link (only then do
//! they count), changed with a notice to the old address; and the notices a person
//! gets: a sign-in from a device their account has not used before.

use super::mailbox::{link, messages_to, subject, token, wait_for, world_with_outbox};
use reqwest::Method;
use reqwest::header::{COOKIE, USER_AGENT};
use std::time::Duration;

async fn add(world: &super::harness::World, login: &super::harness::Login, address: &str) -> u16 {
    world
        .api(Method::POST, "/api/v1/account/email", Some(login))
        .json(&serde_json::json!({ "address": address }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn verify(world: &super::harness::World, token: &str) -> (u16, String) {
    let response = world
        .api(Method::POST, "/api/v1/account/email/verify", None)
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn an_address_counts_once_its_link_is_opened_and_a_change_is_told_to_the_old_one() {
    let m = world_with_outbox().await;
    let world = &m.world;
    let bruce = world.login("patient.b").await;
    let status = world.get_json("/api/v1/account/email", Some(&bruce)).await;
    assert_eq!(status["address"], serde_json::Value::Null);

    assert_eq!(add(world, &bruce, "not an address").await, 400);
    assert_eq!(add(world, &bruce, "bruce@example.test").await, 202);
    let status = world.get_json("/api/v1/account/email", Some(&bruce)).await;
    assert_eq!(
        status["address"],
        serde_json::Value::Null,
        "not before the link"
    );
    assert_eq!(status["pending_address"], "bruce@example.test");

    let mail = wait_for(&m.outbox, "bruce@example.test", "/account/email/verify", 1).await;
    assert_eq!(subject(&mail[0]), "Confirm your email address for Tiaki");
    let first = token(&link(&mail[0], "/account/email/verify"));

    // The link's page only shows a button: fetching it confirms nothing.
    let page = world
        .get(&format!("/account/email/verify?token={first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let cookie = super::mailbox_forms::form_cookie(&page);
    let html = page.text().await.unwrap();
    assert_eq!(super::mailbox_forms::hidden(&html, "token"), first);
    let status = world.get_json("/api/v1/account/email", Some(&bruce)).await;
    assert_eq!(status["address"], serde_json::Value::Null);

    let csrf = super::mailbox_forms::hidden(&html, "csrf");
    let confirmed = world
        .client
        .post(world.url("/account/email/verify"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("token", first.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    let status = world.get_json("/api/v1/account/email", Some(&bruce)).await;
    assert_eq!(status["address"], "bruce@example.test");

    // Once only, and an unknown link looks the same.
    let again = verify(world, &first).await;
    assert_eq!(again.0, 400);
    assert!(again.1.contains("link_invalid"));
    let (unknown, _) = tiaki_crypto::generate_token().unwrap();
    assert_eq!(verify(world, &unknown).await, again);

    // A change: the new address confirms; the old one is told.
    assert_eq!(add(world, &bruce, "bruce.new@example.test").await, 202);
    let mail = wait_for(
        &m.outbox,
        "bruce.new@example.test",
        "/account/email/verify",
        1,
    )
    .await;
    let second = token(&link(&mail[0], "/account/email/verify"));
    // An expired link (the clock moved by editing the row) fails like any other.
    let sqlite = world.sqlite().await;
    sqlx::query("UPDATE email_tokens SET expires_at_ns = expires_at_ns - 61 * 60 * 1000000000 WHERE purpose = 'verify_email' AND used_at_ns IS NULL")
        .execute(&sqlite)
        .await
        .unwrap();
    assert_eq!(verify(world, &second).await, again);
    assert_eq!(add(world, &bruce, "bruce.new@example.test").await, 202);
    let mail = wait_for(
        &m.outbox,
        "bruce.new@example.test",
        "/account/email/verify",
        2,
    )
    .await;
    let third = token(&link(&mail[1], "/account/email/verify"));
    assert_eq!(verify(world, &third).await.0, 204);
    let status = world.get_json("/api/v1/account/email", Some(&bruce)).await;
    assert_eq!(status["address"], "bruce.new@example.test");
    let told = wait_for(
        &m.outbox,
        "bruce@example.test",
        "email address of your Tiaki account",
        1,
    )
    .await;
    assert_eq!(subject(&told[0]), "Your Tiaki email address was changed");
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_is_told_by_email() {
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
    let sign_in = |agent: &'static str| async move {
        let response = world
            .api(Method::POST, "/api/v1/sessions", None)
            .header(USER_AGENT, agent)
            .json(&serde_json::json!({
                "username": "patient.c",
                "password": super::harness::PASSWORD,
                "recovery_code": world.recovery_code("patient.c").await,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    };
    let new_sign_ins = || {
        messages_to(&m.outbox, "carla@example.test")
            .into_iter()
            .filter(|m| subject(m) == "New sign-in to your Tiaki account")
            .collect::<Vec<_>>()
    };
    // The very first sign-in of an account is not news.
    sign_in("curl/8.5.0").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(new_sign_ins().is_empty());
    // The same device again: nothing. A new browser: a notice naming it.
    sign_in("curl/8.5.0").await;
    sign_in("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0")
        .await;
    let notices = wait_for(&m.outbox, "carla@example.test", "New sign-in", 1).await;
    assert!(notices[0].contains("Firefox on Windows"), "{}", notices[0]);
    assert!(notices[0].contains("127.0.0.1"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(new_sign_ins().len(), 1);
}
