//! Password reset by emailed link: the same answer (status, body, time class) for
//! accounts that exist and ones that do not; a link that works once, for a short time;
//! a new password that must pass the policy; every session ended; and no way round the
//! second factor.

use super::harness::{Login, PASSWORD};
use super::mailbox::{link, subject, token, wait_for, world_with_outbox};
use reqwest::Method;
use std::time::{Duration, Instant};

const NEW_PASSWORD: &str = "kea nest under the old totara";

async fn ask(world: &super::harness::World, who: &str) -> (u16, String) {
    let response = world
        .api(Method::POST, "/api/v1/password-resets", None)
        .json(&serde_json::json!({ "username_or_email": who }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn complete(world: &super::harness::World, token: &str, password: &str) -> (u16, String) {
    let response = world
        .api(Method::POST, "/api/v1/password-resets/complete", None)
        .json(&serde_json::json!({ "token": token, "password": password }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn sign_in(world: &super::harness::World, username: &str, password: &str) -> u16 {
    world
        .api(Method::POST, "/api/v1/sessions", None)
        .json(&serde_json::json!({
            "username": username,
            "password": password,
            "recovery_code": world.recovery_code(username).await,
        }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn me(world: &super::harness::World, login: &Login) -> u16 {
    world
        .api(Method::GET, "/api/v1/me", Some(login))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_reset_link_works_once_sets_a_strong_password_and_ends_every_session() {
    let m = world_with_outbox().await;
    let world = &m.world;
    let account = world
        .store
        .account_by_username("patient.a")
        .await
        .unwrap()
        .unwrap();
    world
        .core
        .set_verified_email(account.id, "aroha@example.test")
        .await
        .unwrap();
    let before = world.login("patient.a").await;
    assert_eq!(me(world, &before).await, 200);

    // By email address, in any case: a link arrives.
    let (status, _) = ask(world, "Aroha@Example.TEST").await;
    assert_eq!(status, 202);
    let mail = wait_for(
        &m.outbox,
        "aroha@example.test",
        "/password-reset/complete",
        1,
    )
    .await;
    assert_eq!(subject(&mail[0]), "Reset your Tiaki password");
    assert!(mail[0].contains("\"patient.a\""), "{}", mail[0]);
    assert!(mail[0].contains("within 30 minutes"));
    let url = link(&mail[0], "/password-reset/complete");
    assert!(
        url.starts_with("https://portal.example/password-reset/complete?token="),
        "{url}"
    );
    let token = token(&url);

    // Opening the link shows the form and spends nothing.
    for _ in 0..2 {
        let page = world
            .get(&format!("/password-reset/complete?token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("Choose a new password"));
    }

    // A common password is refused, kindly, and the link still works.
    let (status, body) = complete(world, &token, "password1").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("password_common"), "{body}");
    assert_eq!(
        me(world, &before).await,
        200,
        "a refused reset changes nothing"
    );

    let (status, body) = complete(world, &token, NEW_PASSWORD).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(me(world, &before).await, 401, "every session ends");

    // Single use: the same link again, a made-up one, and a malformed one all get the
    // one answer.
    let again = complete(world, &token, "another long passphrase here").await;
    assert_eq!(again.0, 400);
    assert!(again.1.contains("link_invalid"), "{}", again.1);
    let (unknown_token, _) = tiaki_crypto::generate_token().unwrap();
    assert_eq!(complete(world, &unknown_token, NEW_PASSWORD).await, again);
    assert_eq!(complete(world, "not-a-token", NEW_PASSWORD).await, again);
    let page = world
        .get(&format!("/password-reset/complete?token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);

    // The old password is dead; the new one works — with the second factor only.
    assert_eq!(sign_in(world, "patient.a", PASSWORD).await, 401);
    assert_eq!(sign_in(world, "patient.a", NEW_PASSWORD).await, 201);
    let password_only = world
        .api(Method::POST, "/api/v1/sessions", None)
        .json(&serde_json::json!({ "username": "patient.a", "password": NEW_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        password_only.status(),
        401,
        "a reset never bypasses the second factor"
    );

    let notice = wait_for(&m.outbox, "aroha@example.test", "was reset with a link", 1).await;
    assert_eq!(subject(&notice[0]), "Your Tiaki password was reset");
}

#[tokio::test]
async fn asking_says_nothing_about_who_has_an_account() {
    let m = world_with_outbox().await;
    let world = &m.world;
    for (username, address) in [
        ("patient.b", "bruce@example.test"),
        ("clinician.x", "dr.x@example.test"),
    ] {
        let account = world
            .store
            .account_by_username(username)
            .await
            .unwrap()
            .unwrap();
        world
            .core
            .set_verified_email(account.id, address)
            .await
            .unwrap();
    }
    // Warm up (the first request of a process pays for lazy statics).
    ask(world, "warm.up").await;

    let mut answers = std::collections::BTreeSet::new();
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for round in 0..4 {
        for (who, is_known) in [
            ("patient.b".to_owned(), true),
            ("dr.x@example.test".to_owned(), true),
            (format!("nobody.{round}"), false),
            (format!("nobody{round}@example.test"), false),
        ] {
            let started = Instant::now();
            answers.insert(ask(world, &who).await);
            let took = started.elapsed();
            if is_known {
                known.push(took);
            } else {
                unknown.push(took);
            }
        }
    }
    assert_eq!(
        answers.len(),
        1,
        "known and unknown got different answers: {answers:#?}"
    );
    let (status, body) = answers.into_iter().next().unwrap();
    assert_eq!(status, 202);
    assert!(body.contains("If that matches an account"), "{body}");

    // The same time class: the lookup and the email happen after the answer.
    known.sort();
    unknown.sort();
    let median = |v: &[Duration]| v[v.len() / 2];
    let (k, u) = (median(&known), median(&unknown));
    println!("reset request median: known {k:?}, unknown {u:?}");
    assert!(k < Duration::from_millis(500) && u < Duration::from_millis(500));
    assert!(
        k.abs_diff(u) < Duration::from_millis(60),
        "known {k:?} vs unknown {u:?}"
    );

    // The owners got links; at most three per username or address an hour, however
    // often it is asked for.
    let bruce = wait_for(
        &m.outbox,
        "bruce@example.test",
        "/password-reset/complete",
        3,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        super::mailbox::messages_to(&m.outbox, "bruce@example.test").len(),
        3,
        "{bruce:#?}"
    );
    // Only the newest link works.
    let newest = token(&link(bruce.last().unwrap(), "/password-reset/complete"));
    let oldest = token(&link(&bruce[0], "/password-reset/complete"));
    assert!(!world.core.password_reset_link_valid(&oldest).await.unwrap());
    assert!(world.core.password_reset_link_valid(&newest).await.unwrap());
}

#[tokio::test]
async fn links_expire_and_floods_are_refused() {
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
    assert_eq!(ask(world, "patient.c").await.0, 202);
    let mail = wait_for(
        &m.outbox,
        "carla@example.test",
        "/password-reset/complete",
        1,
    )
    .await;
    let token = token(&link(&mail[0], "/password-reset/complete"));

    // Half an hour later (the clock moved by editing the row).
    sqlx::query("UPDATE email_tokens SET expires_at_ns = expires_at_ns - 31 * 60 * 1000000000")
        .execute(&world.sqlite().await)
        .await
        .unwrap();
    let expired = complete(world, &token, NEW_PASSWORD).await;
    assert_eq!(expired.0, 400);
    assert!(expired.1.contains("link_invalid"));
    let (unknown, _) = tiaki_crypto::generate_token().unwrap();
    assert_eq!(complete(world, &unknown, NEW_PASSWORD).await, expired);
    assert_eq!(
        sign_in(world, "patient.c", PASSWORD).await,
        201,
        "nothing changed"
    );

    // One address asking over and over is told to wait (and learns nothing else).
    let mut refused = None;
    for n in 0..30 {
        let response = world
            .api(Method::POST, "/api/v1/password-resets", None)
            .json(&serde_json::json!({ "username_or_email": format!("someone{n}") }))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            let retry = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .to_owned();
            refused = Some((n, retry));
            break;
        }
        assert_eq!(response.status(), 202);
    }
    let (n, retry) = refused.expect("a flood of reset requests was never refused");
    assert!(n >= 15, "refused too early, after {n}");
    assert!(retry.parse::<u64>().unwrap() > 0);
}

#[tokio::test]
async fn the_pages_walk_a_person_through_it() {
    let m = world_with_outbox().await;
    let world = &m.world;
    let account = world
        .store
        .account_by_username("nurse.x")
        .await
        .unwrap()
        .unwrap();
    world
        .core
        .set_verified_email(account.id, "nurse@example.test")
        .await
        .unwrap();
    let login_page = world
        .get("/login")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login_page.contains("href=\"/password-reset\""));

    let form = world.get("/password-reset").send().await.unwrap();
    assert_eq!(form.status(), 200);
    let cookie = super::mailbox_forms::form_cookie(&form);
    let html = form.text().await.unwrap();
    let csrf = super::mailbox_forms::hidden(&html, "csrf");
    let forged = world
        .client
        .post(world.url("/password-reset"))
        .form(&[("csrf", csrf.as_str()), ("username_or_email", "nurse.x")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "no form cookie: refused");
    let sent = world
        .client
        .post(world.url("/password-reset"))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str()), ("username_or_email", "nurse.x")])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    assert!(sent.text().await.unwrap().contains("Check your email"));

    let mail = wait_for(
        &m.outbox,
        "nurse@example.test",
        "/password-reset/complete",
        1,
    )
    .await;
    let token = token(&link(&mail[0], "/password-reset/complete"));
    let form = world
        .get(&format!("/password-reset/complete?token={token}"))
        .send()
        .await
        .unwrap();
    let cookie = super::mailbox_forms::form_cookie(&form);
    let html = form.text().await.unwrap();
    let csrf = super::mailbox_forms::hidden(&html, "csrf");
    let post = |password: &'static str, confirm: &'static str| {
        world
            .client
            .post(world.url("/password-reset/complete"))
            .header(reqwest::header::COOKIE, &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("token", token.as_str()),
                ("password", password),
                ("confirm", confirm),
            ])
            .send()
    };
    let mismatch = post(NEW_PASSWORD, "something else entirely").await.unwrap();
    assert_eq!(mismatch.status(), 400);
    assert!(
        mismatch
            .text()
            .await
            .unwrap()
            .contains("match. Please type them again")
    );
    let done = post(NEW_PASSWORD, NEW_PASSWORD).await.unwrap();
    assert_eq!(done.status(), 200);
    assert!(
        done.text()
            .await
            .unwrap()
            .contains("Your password is changed")
    );
    assert_eq!(sign_in(world, "nurse.x", NEW_PASSWORD).await, 201);
}
