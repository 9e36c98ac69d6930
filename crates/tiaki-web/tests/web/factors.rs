//! Factor changes end every other session; staff and operators must use passkeys unless
//! the configuration allows an authenticator app for them; a password-only session may
//! only register a passkey for an account with other factors after presenting one.

use super::devices::{set_cookies, web_sign_in};
use super::harness::{PASSWORD, World};
use super::sessions::api_login_with;
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, ORIGIN};

#[tokio::test]
async fn every_other_session_dies_when_a_factor_changes() {
    let world = World::start().await;
    let laptop = world.login("patient.a").await;
    let phone = world.login("patient.a").await;
    let tablet = world.login("patient.a").await;
    let someone_else = world.login("patient.b").await;
    let status = |token: String| {
        let world = &world;
        async move {
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
    };
    let page_status = world
        .page(Method::GET, "/account/sessions", Some(&phone))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(page_status, 200);

    let made = world
        .api(
            Method::POST,
            "/api/v1/account/recovery-codes",
            Some(&tablet),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let codes: serde_json::Value = made.json().await.unwrap();
    let codes: Vec<String> = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);

    assert_eq!(status(laptop.token.clone()).await, 401);
    assert_eq!(status(phone.token.clone()).await, 401);
    let page = world
        .page(Method::GET, "/account/sessions", Some(&phone))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303, "the page session is dead too");
    assert_eq!(
        status(tablet.token.clone()).await,
        200,
        "the one that made the change stays"
    );
    assert_eq!(
        status(someone_else.token.clone()).await,
        200,
        "other accounts are untouched"
    );

    // The new codes work, the old ones (and the harness's) do not.
    let with = |code: &str| serde_json::json!({ "username": "patient.a", "password": PASSWORD, "recovery_code": code });
    assert_eq!(api_login_with(&world, with(&codes[0])).await.0, 201);
    assert_eq!(api_login_with(&world, with(&codes[0])).await.0, 401);
}

#[tokio::test]
async fn staff_and_operators_need_a_passkey_by_default() {
    let world = World::start().await;
    for username in ["clinician.x", "operator"] {
        let totp = serde_json::json!({ "username": username, "password": PASSWORD,
            "totp": world.totp_now(username) });
        let (status, body, _) = api_login_with(&world, totp).await;
        assert_eq!(status, 401, "{username}: {body}");
        assert!(body.contains("second_factor_required"));
    }
    // A patient's authenticator app is fine.
    let patient = serde_json::json!({ "username": "patient.b", "password": PASSWORD,
        "totp": world.totp_now("patient.b") });
    assert_eq!(api_login_with(&world, patient).await.0, 201);
    // Recovery codes stay staff's way back in (a lost passkey).
    let recovery = serde_json::json!({ "username": "nurse.x", "password": PASSWORD,
        "recovery_code": world.recovery_code("nurse.x").await });
    assert_eq!(api_login_with(&world, recovery).await.0, 201);

    // On the web: the code does not complete the sign-in; the page asks for a passkey,
    // after confirming with the authenticator the account already has.
    let first = web_sign_in(&world, "clinician.x", &[]).await;
    assert_eq!(first.headers()[LOCATION], "/login/second-factor");
    let pending = set_cookies(&first, "__Host-tiaki_session=").pop().unwrap();
    let token = pending.split_once('=').unwrap().1.to_owned();
    let csrf = world.core.csrf_token(
        world
            .core
            .authenticate_pending(&token)
            .await
            .unwrap()
            .session,
    );
    let get = |path: &'static str| {
        world
            .client
            .get(world.url(path))
            .header(COOKIE, pending.clone())
    };
    let html = get("/login/second-factor")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Set up a passkey"), "{html}");
    assert!(html.contains("id=\"confirm-first\""), "{html}");
    assert!(!html.contains("id=\"create-passkey\""));

    let post_form = |path: &'static str, code: String| {
        world
            .client
            .post(world.url(path))
            .header(COOKIE, pending.clone())
            .form(&[("csrf", csrf.clone()), ("code", code)])
    };
    let code = post_form("/login/second-factor", world.totp_now("clinician.x"))
        .send()
        .await
        .unwrap();
    assert_eq!(code.status(), 401, "TOTP does not sign staff in");
    let enrol = post_form("/login/second-factor/enrol", "123456".to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(
        enrol.status(),
        400,
        "nor can staff enrol an authenticator app"
    );

    // Registering a passkey needs the existing factor first (the password is not
    // enough to add one).
    let options = || {
        world
            .client
            .post(world.url("/login/second-factor/passkey/register/options"))
            .header(COOKIE, pending.clone())
            .header("x-csrf-token", csrf.clone())
            .header(ORIGIN, format!("http://{}", world.addr))
            .json(&serde_json::json!({}))
    };
    let early = options().send().await.unwrap();
    assert_eq!(early.status(), 403);
    assert_eq!(
        early.json::<serde_json::Value>().await.unwrap()["code"],
        "step_up_required"
    );
    let wrong = post_form("/login/second-factor/confirm", "000000".to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // The code is used once: wait for a step the earlier attempt did not use.
    let confirm = post_form(
        "/login/second-factor/confirm",
        world.recovery_code("clinician.x").await,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(confirm.status(), 303);
    let html = get("/login/second-factor")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"create-passkey\""), "{html}");
    let ready = options().send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let started: serde_json::Value = ready.json().await.unwrap();
    assert!(started["ceremony"].is_string());
    let pk = &started["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert!(pk["challenge"].as_str().unwrap().len() >= 43);
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    // Without the CSRF header, nothing.
    let no_csrf = world
        .client
        .post(world.url("/login/second-factor/passkey/register/options"))
        .header(COOKIE, pending.clone())
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    // Still password-only: confirming did not sign in.
    let home = get("/home").send().await.unwrap();
    assert_eq!(home.headers()[LOCATION], "/login/second-factor");
    // A garbage answer to the ceremony registers nothing.
    let finish = world
        .client
        .post(world.url("/login/second-factor/passkey/register"))
        .header(COOKIE, pending.clone())
        .header("x-csrf-token", csrf.clone())
        .json(&serde_json::json!({ "ceremony": started["ceremony"], "credential": { "id": "x" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(finish.status(), 400);
    assert_eq!(
        finish.json::<serde_json::Value>().await.unwrap()["code"],
        "passkey_failed"
    );
    let account = world
        .store
        .account_by_username("clinician.x")
        .await
        .unwrap()
        .unwrap();
    assert!(
        world
            .store
            .passkeys_of(account.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_passkey_alone_needs_the_sign_in_pages_token_and_a_real_answer() {
    let world = World::start().await;
    let form = world.get("/login").send().await.unwrap();
    let html_csrf = set_cookies(&form, "__Host-tiaki_login=").pop().unwrap();
    let token = html_csrf.split_once('=').unwrap().1.to_owned();
    let options = |csrf: &str| {
        world
            .client
            .post(world.url("/login/passkey/options"))
            .header(COOKIE, html_csrf.clone())
            .header("x-csrf-token", csrf.to_owned())
            .json(&serde_json::json!({}))
    };
    assert_eq!(options("not-the-token").send().await.unwrap().status(), 403);
    let started = options(&token).send().await.unwrap();
    assert_eq!(started.status(), 200);
    let started: serde_json::Value = started.json().await.unwrap();
    let pk = &started["options"]["publicKey"];
    assert!(
        pk["allowCredentials"].as_array().is_none_or(Vec::is_empty),
        "a discoverable request names no credentials: {pk}"
    );
    assert_eq!(pk["userVerification"], "required");
    assert!(started["options"].get("mediation").is_none());

    let finish = || {
        world
            .client
            .post(world.url("/login/passkey"))
            .header(COOKIE, html_csrf.clone())
            .header("x-csrf-token", token.clone())
            .json(&serde_json::json!({
                "ceremony": started["ceremony"],
                "credential": { "id": "AAAA", "rawId": "AAAA", "type": "public-key",
                    "response": { "authenticatorData": "AAAA", "clientDataJSON": "AAAA",
                        "signature": "AAAA", "userHandle": "AAAA" } }
            }))
    };
    let refused = finish().send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(set_cookies(&refused, "__Host-tiaki_session=").is_empty());
    // The ceremony was used up by the attempt.
    let again = finish().send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert_eq!(
        again.json::<serde_json::Value>().await.unwrap()["code"],
        "passkey_expired"
    );
}
