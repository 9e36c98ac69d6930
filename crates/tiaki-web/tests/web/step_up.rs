//! Step-up: sensitive changes need a second factor from the last few minutes. A stale
//! session is refused with 403 `step_up_required`; stepping up makes it fresh and
//! replaces its token; freshness runs out after the window.

use super::harness::World;
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use tiaki_domain::SessionId;
use time::{Duration, OffsetDateTime};

/// Makes a session's last second factor `minutes` old, as if time had passed.
pub async fn age_factor(world: &World, session: SessionId, minutes: i64) {
    world
        .store
        .session_factor_put(
            session,
            Some(OffsetDateTime::now_utc() - Duration::minutes(minutes)),
            None,
        )
        .await
        .unwrap();
}

/// The outcomes of every audit event named `action`, oldest first.
pub async fn audit_outcomes(world: &World, action: &str) -> Vec<String> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT outcome FROM audit_events WHERE action = $1 ORDER BY seq")
            .bind(action)
            .fetch_all(&world.sqlite().await)
            .await
            .unwrap();
    rows.into_iter().map(|(o,)| o).collect()
}

async fn new_codes(world: &World, token: &str) -> reqwest::Response {
    world
        .client
        .post(world.url("/api/v1/account/recovery-codes"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn step_up(world: &World, token: &str, body: serde_json::Value) -> reqwest::Response {
    world
        .client
        .post(world.url("/api/v1/sessions/current/step-up"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stale_session_must_step_up_and_stepping_up_replaces_its_token() {
    let world = World::start().await;
    let a = world.login("patient.a").await;
    age_factor(&world, a.actor.session, 6).await;

    let refused = new_codes(&world, &a.token).await;
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "step_up_required", "{body}");
    // Reading is not sensitive: the stale session still reads.
    assert_eq!(
        world
            .api(Method::GET, "/api/v1/me", Some(&a))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A wrong code changes nothing.
    let wrong = step_up(&world, &a.token, serde_json::json!({ "totp": "000000" })).await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(
        wrong.json::<serde_json::Value>().await.unwrap()["code"],
        "step_up_failed"
    );
    assert_eq!(new_codes(&world, &a.token).await.status(), 403);
    let both = step_up(
        &world,
        &a.token,
        serde_json::json!({ "totp": "123456", "recovery_code": "x" }),
    )
    .await;
    assert_eq!(both.status(), 400);

    let code = world.totp_now("patient.a");
    let stepped = step_up(&world, &a.token, serde_json::json!({ "totp": code })).await;
    assert_eq!(stepped.status(), 200);
    let stepped: serde_json::Value = stepped.json().await.unwrap();
    let fresh = stepped["token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, a.token);
    assert!(stepped["fresh_until"].is_string());

    // A privilege change: the old token is dead, the new one is the same session.
    let old = world
        .api(Method::GET, "/api/v1/me", Some(&a))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);
    let sessions: serde_json::Value = world
        .client
        .get(world.url("/api/v1/sessions"))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let current = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap();
    assert_eq!(current["id"], a.actor.session.to_string());

    let made = new_codes(&world, &fresh).await;
    assert_eq!(made.status(), 201);
    let codes: serde_json::Value = made.json().await.unwrap();
    assert_eq!(codes["recovery_codes"].as_array().unwrap().len(), 10);

    // The window runs out.
    age_factor(&world, a.actor.session, 6).await;
    assert_eq!(new_codes(&world, &fresh).await.status(), 403);
    // Within it (4 minutes old), the change is allowed.
    age_factor(&world, a.actor.session, 4).await;
    assert_eq!(new_codes(&world, &fresh).await.status(), 201);

    // The same TOTP code cannot step up twice.
    age_factor(&world, a.actor.session, 6).await;
    let replay = step_up(&world, &fresh, serde_json::json!({ "totp": code })).await;
    assert_eq!(replay.status(), 400);

    let outcomes = audit_outcomes(&world, "session.step_up").await;
    assert!(outcomes.iter().any(|o| o == "allowed"), "{outcomes:?}");
    assert!(outcomes.iter().any(|o| o == "denied"), "{outcomes:?}");
}

#[tokio::test]
async fn the_step_up_page_replaces_the_cookie_and_goes_back_only_to_this_site() {
    let world = World::start().await;
    let a = world.login("patient.b").await;
    age_factor(&world, a.actor.session, 10).await;
    let page = world
        .page(
            Method::GET,
            "/account/step-up?next=/account/security",
            Some(&a),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Confirm it"), "{html}");
    assert!(html.contains("name=\"next\" value=\"/account/security\""));

    // Removing a passkey needs a fresh factor: a stale page sends the person to step up.
    let code = world.recovery_code("patient.b").await;
    let wrong = world
        .page(Method::POST, "/account/step-up", Some(&a))
        .form(&[
            ("csrf", a.csrf.as_str()),
            ("code", "not-a-code"),
            ("next", "/account/security"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    let done = world
        .page(Method::POST, "/account/step-up", Some(&a))
        .form(&[
            ("csrf", a.csrf.as_str()),
            ("code", code.as_str()),
            ("next", "//evil.example/steal"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()[LOCATION], "/account/security");
    let cookie = done
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-tiaki_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // The old cookie is dead; the new one opens the security page, fresh.
    let old = world
        .page(Method::GET, "/account/security", Some(&a))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 303);
    let security = world
        .client
        .get(world.url("/account/security"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(security.status(), 200);
    let html = security.text().await.unwrap();
    assert!(html.contains("id=\"fresh\""), "{html}");
    assert!(html.contains("You have 0 unused recovery codes"), "{html}");
}
