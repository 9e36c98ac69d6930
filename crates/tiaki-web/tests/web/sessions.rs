//! Sign-in, sign-out, cookies and CSRF.

use super::harness::{PASSWORD, World};
use reqwest::Method;
use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use std::time::{Duration, Instant};

async fn api_login(world: &World, username: &str, password: &str) -> (u16, String, Duration) {
    let body = serde_json::json!({ "username": username, "password": password });
    api_login_with(world, body).await
}

pub async fn api_login_with(world: &World, body: serde_json::Value) -> (u16, String, Duration) {
    let started = Instant::now();
    let response = world
        .api(Method::POST, "/api/v1/sessions", None)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (status, body, started.elapsed())
}

#[tokio::test]
async fn tokens_die_at_sign_out_and_are_stored_hashed() {
    let world = World::start().await;
    let (status, body, _) = api_login_with(
        &world,
        serde_json::json!({
            "username": "patient.a",
            "password": PASSWORD,
            "totp": world.totp_now("patient.a"),
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 43, "256 bits, base64url");
    let bearer = |t: &str| {
        world
            .client
            .get(world.url("/api/v1/me"))
            .bearer_auth(t.to_owned())
    };
    assert_eq!(bearer(&token).send().await.unwrap().status(), 200);

    // The database never holds the token itself.
    let db = world.sqlite().await;
    let rows: Vec<(String,)> = sqlx::query_as("SELECT quote(token_hash) FROM sessions")
        .fetch_all(&db)
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for (stored,) in rows {
        assert!(!stored.contains(&token));
    }
    let dump: Vec<(String,)> =
        sqlx::query_as("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")
            .fetch_all(&db)
            .await
            .unwrap();
    assert!(dump.iter().all(|(s,)| !s.contains(&token)));

    let out = world
        .client
        .delete(world.url("/api/v1/sessions/current"))
        .bearer_auth(token.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let after = bearer(&token).send().await.unwrap();
    assert_eq!(after.status(), 401);
    assert_eq!(
        after.json::<serde_json::Value>().await.unwrap()["code"],
        "unauthenticated"
    );
    // Junk tokens are simply unauthenticated.
    for junk in ["", "x", "Bearer", &"A".repeat(5000), "../../etc", "\u{0}"] {
        let response = world
            .client
            .get(world.url("/api/v1/me"))
            .header("authorization", format!("Bearer {junk}"))
            .send()
            .await;
        if let Ok(r) = response {
            assert_eq!(r.status(), 401, "{junk:?}");
        }
    }
}

#[tokio::test]
async fn unknown_and_known_usernames_are_indistinguishable() {
    let world = World::start().await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..4 {
        let (s1, b1, t1) = api_login(&world, "patient.a", "wrong password here").await;
        let (s2, b2, t2) = api_login(&world, "nobody.at.all", "wrong password here").await;
        assert_eq!((s1, &b1), (s2, &b2), "same status and body");
        assert_eq!(s1, 401);
        known.push(t1);
        unknown.push(t2);
    }
    // The right password without a second factor, or with a wrong one, says nothing
    // more: a stolen password is not even confirmed.
    let (s3, b3, t3) = api_login(&world, "patient.b", PASSWORD).await;
    let (s4, b4, t4) = api_login_with(
        &world,
        serde_json::json!({ "username": "patient.c", "password": PASSWORD, "totp": "000000" }),
    )
    .await;
    let (_, b1, _) = api_login(&world, "patient.a", "wrong password here").await;
    assert_eq!((s3, &b3), (401, &b1));
    assert_eq!((s4, &b4), (401, &b1));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&b1).unwrap()["code"],
        "second_factor_required"
    );
    known.push(t3);
    unknown.push(t4);
    known.sort();
    unknown.sort();
    let (k, u) = (known[2].as_secs_f64(), unknown[2].as_secs_f64());
    // Both pay for a full Argon2id verification; medians stay within a factor of two.
    assert!(
        u > k / 2.0 && u < k * 2.0,
        "median known {k:.3}s vs unknown {u:.3}s"
    );
}

#[tokio::test]
async fn page_sign_in_sets_a_strict_host_cookie_and_sign_out_revokes_it() {
    let world = World::start().await;
    let form = world.get("/login").send().await.unwrap();
    let login_cookie = form.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(login_cookie.starts_with("__Host-tiaki_login="));
    let pair = login_cookie.split(';').next().unwrap().to_owned();
    let csrf = pair.split_once('=').unwrap().1.to_owned();

    // Without the matching cookie the form is refused.
    let forged = world
        .client
        .post(world.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "patient.a"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // A cross-site POST is refused even with the cookie.
    let cross = world
        .client
        .post(world.url("/login"))
        .header(COOKIE, pair.clone())
        .header(ORIGIN, "https://evil.example")
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "patient.a"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);

    let ok = world
        .client
        .post(world.url("/login"))
        .header(COOKIE, pair)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "patient.a"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    // The password alone opens a password-only session, sent to the second factor.
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/login/second-factor");
    let pending_cookie = ok
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-tiaki_session="))
        .unwrap();
    let pending = pending_cookie.split(';').next().unwrap().to_owned();
    for path in ["/home", &format!("/patients/{}", world.patient_a)] {
        let blocked = world
            .client
            .get(world.url(path))
            .header(COOKIE, pending.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(blocked.status(), 303, "{path}");
        assert_eq!(blocked.headers()["location"], "/login/second-factor");
    }
    let form = world
        .client
        .get(world.url("/login/second-factor"))
        .header(COOKIE, pending.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let html = form.text().await.unwrap();
    let pending_csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let ok = world
        .client
        .post(world.url("/login/second-factor"))
        .header(COOKIE, pending.clone())
        .form(&[
            ("csrf", pending_csrf.as_str()),
            ("code", world.totp_now("patient.a").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/home");
    let session_cookie = ok
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-tiaki_session="))
        .unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(
            session_cookie.contains(attribute),
            "{session_cookie} lacks {attribute}"
        );
    }
    assert!(
        !session_cookie.contains("Domain"),
        "__Host- cookies carry no Domain"
    );
    let cookie = session_cookie.split(';').next().unwrap().to_owned();
    assert_ne!(cookie, pending, "a new session id at the second factor");
    let stale = world
        .client
        .get(world.url("/login/second-factor"))
        .header(COOKIE, pending.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        stale.headers()["location"],
        "/login",
        "the password-only session is over"
    );
    let home = world
        .client
        .get(world.url("/home"))
        .header(COOKIE, cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 303);
    assert_eq!(
        home.headers()["location"],
        format!("/patients/{}", world.patient_a)
    );

    // Sign-out needs the session's CSRF token.
    let page = world
        .client
        .get(world.url(&format!("/patients/{}", world.patient_a)))
        .header(COOKIE, cookie.clone())
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let refused = world
        .client
        .post(world.url("/logout"))
        .header(COOKIE, cookie.clone())
        .form(&[("csrf", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let still = world
        .client
        .get(world.url("/home"))
        .header(COOKIE, cookie.clone())
        .send()
        .await
        .unwrap();
    assert_ne!(
        still.headers()["location"],
        "/login",
        "a refused sign-out changes nothing"
    );
    let out = world
        .client
        .post(world.url("/logout"))
        .header(COOKIE, cookie.clone())
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = world
        .client
        .get(world.url("/home"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.headers()["location"],
        "/login",
        "the old cookie is dead server-side"
    );
}

#[tokio::test]
async fn page_uploads_need_the_session_csrf_token() {
    let world = World::start().await;
    let a = world.login("patient.a").await;
    let before = world.document_count().await;
    let part = || {
        reqwest::multipart::Part::bytes(super::harness::PNG.to_vec())
            .file_name("p.png")
            .mime_str("image/png")
            .unwrap()
    };
    let path = format!("/patients/{}/documents", world.patient_a);
    let without = reqwest::multipart::Form::new()
        .text("title", "No token")
        .part("file", part());
    assert_eq!(
        world
            .page(Method::POST, &path, Some(&a))
            .multipart(without)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let other = world.login("patient.b").await;
    let wrong = reqwest::multipart::Form::new()
        .text("csrf", other.csrf)
        .text("title", "Wrong token")
        .part("file", part());
    assert_eq!(
        world
            .page(Method::POST, &path, Some(&a))
            .multipart(wrong)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(world.document_count().await, before);
    let right = reqwest::multipart::Form::new()
        .text("csrf", a.csrf.clone())
        .text("title", "Right token")
        .part("file", part());
    let ok = world
        .page(Method::POST, &path, Some(&a))
        .multipart(right)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(world.document_count().await, before + 1);
}
