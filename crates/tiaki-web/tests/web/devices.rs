//! Trusted devices: "trust this device" at the second factor sets a signed cookie; a
//! right password from that device then skips the second factor, in a session marked as
//! such and not fresh for step-up. A revoked, tampered or other account's cookie is
//! ignored, and every factor change forgets all trusted devices.

use super::harness::{PASSWORD, World};
use super::step_up::audit_outcomes;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

const DEVICE_PREFIX: &str = "__Host-tiaki_device_";

/// The `name=value` of each cookie a response sets whose name starts with `prefix`.
pub fn set_cookies(response: &reqwest::Response, prefix: &str) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|c| c.starts_with(prefix))
        .filter_map(|c| c.split(';').next().map(str::to_owned))
        .collect()
}

/// Step one on the web: the password, from a browser holding `extra_cookies`. Returns
/// the response (303 to the second factor, or to home from a trusted device).
pub async fn web_sign_in(
    world: &World,
    username: &str,
    extra_cookies: &[String],
) -> reqwest::Response {
    let form = world.get("/login").send().await.unwrap();
    let login = set_cookies(&form, "__Host-tiaki_login=").pop().unwrap();
    let csrf = login.split_once('=').unwrap().1.to_owned();
    let mut cookies = vec![login];
    cookies.extend_from_slice(extra_cookies);
    world
        .client
        .post(world.url("/login"))
        .header(COOKIE, cookies.join("; "))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", username),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
}

fn session_of(response: &reqwest::Response) -> String {
    set_cookies(response, "__Host-tiaki_session=")
        .pop()
        .unwrap()
}

fn token_of(session_cookie: &str) -> String {
    session_cookie.split_once('=').unwrap().1.to_owned()
}

/// Signs in on the web with the password and a recovery code, ticking "trust this
/// device". Returns the full session cookie and the device cookie.
pub async fn sign_in_trusting(world: &World, username: &str) -> (String, String) {
    let first = web_sign_in(world, username, &[]).await;
    assert_eq!(first.status(), 303);
    assert_eq!(first.headers()[LOCATION], "/login/second-factor");
    let pending = session_of(&first);
    let csrf = world.core.csrf_token(
        world
            .core
            .authenticate_pending(&token_of(&pending))
            .await
            .unwrap()
            .session,
    );
    let page = world
        .client
        .get(world.url("/login/second-factor"))
        .header(COOKIE, pending.clone())
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Trust this device for 30 days"), "{html}");
    let code = world.recovery_code(username).await;
    let done = world
        .client
        .post(world.url("/login/second-factor"))
        .header(COOKIE, pending)
        .form(&[
            ("csrf", csrf.as_str()),
            ("code", code.as_str()),
            ("trust_device", "on"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()[LOCATION], "/home");
    let device = set_cookies(&done, DEVICE_PREFIX)
        .pop()
        .expect("a device cookie");
    let raw = done
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(DEVICE_PREFIX))
        .unwrap()
        .to_owned();
    assert!(raw.contains("HttpOnly") && raw.contains("Secure") && raw.contains("SameSite=Strict"));
    assert!(raw.contains("Max-Age=2592000"), "{raw}");
    (session_of(&done), device)
}

async fn api_get(world: &World, token: &str, path: &str) -> serde_json::Value {
    world
        .client
        .get(world.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_trusted_device_skips_the_second_factor_until_revoked() {
    let world = World::start().await;
    let (first, device) = sign_in_trusting(&world, "patient.a").await;
    let devices = api_get(&world, &token_of(&first), "/api/v1/trusted-devices").await;
    let devices = devices.as_array().unwrap();
    assert_eq!(devices.len(), 1, "{devices:?}");
    let device_id = devices[0]["id"].as_str().unwrap().to_owned();
    // The database keeps only a hash of the cookie's secret.
    let secret = device.split('.').nth(1).unwrap().to_owned();
    let stored: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT secret_hash FROM trusted_devices")
        .fetch_all(&world.sqlite().await)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!String::from_utf8_lossy(&stored[0].0).contains(&secret));

    // From the trusted device: the password alone signs in.
    let again = web_sign_in(&world, "patient.a", std::slice::from_ref(&device)).await;
    assert_eq!(again.status(), 303);
    assert_eq!(again.headers()[LOCATION], "/home");
    let trusted = token_of(&session_of(&again));
    let me = world
        .client
        .get(world.url("/api/v1/me"))
        .bearer_auth(&trusted)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // ...but that session is marked, and is not fresh for sensitive changes.
    let sessions = api_get(&world, &trusted, "/api/v1/sessions").await;
    let current = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(current["trusted_device"], true);
    let refused = world
        .client
        .post(world.url("/api/v1/account/recovery-codes"))
        .bearer_auth(&trusted)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let page = world
        .client
        .get(world.url("/account/sessions"))
        .header(COOKIE, format!("__Host-tiaki_session={trusted}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("id=\"device-{device_id}\"")),
        "{page}"
    );
    assert!(page.contains("trusted device, no second step"));
    let listed = api_get(&world, &trusted, "/api/v1/trusted-devices").await;
    assert!(listed[0]["last_used_at"].is_string());

    // Revoked from the sessions page: the next sign-in asks for the second factor.
    let csrf = world
        .core
        .csrf_token(world.core.authenticate(&trusted).await.unwrap().session);
    let revoke = world
        .client
        .post(world.url(&format!("/account/devices/{device_id}/revoke")))
        .header(COOKIE, format!("__Host-tiaki_session={trusted}"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 303);
    assert_eq!(revoke.headers()[LOCATION], "/account/sessions?done=device");
    let after = web_sign_in(&world, "patient.a", std::slice::from_ref(&device)).await;
    assert_eq!(after.headers()[LOCATION], "/login/second-factor");
    assert!(
        api_get(&world, &trusted, "/api/v1/trusted-devices")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    let outcomes = audit_outcomes(&world, "device.revoke").await;
    assert_eq!(outcomes, ["allowed"]);
}

#[tokio::test]
async fn tampered_and_other_accounts_device_cookies_are_ignored() {
    let world = World::start().await;
    let (_, device_a) = sign_in_trusting(&world, "patient.a").await;
    let (_, device_b) = sign_in_trusting(&world, "patient.b").await;
    let (name_a, value_a) = device_a.split_once('=').unwrap();
    let (name_b, value_b) = device_b.split_once('=').unwrap();
    assert_ne!(name_a, name_b, "each account has its own cookie");

    // A's cookie, as it is, does nothing for B; nor does A's value under B's name.
    for cookie in [device_a.clone(), format!("{name_b}={value_a}")] {
        let b = web_sign_in(&world, "patient.b", &[cookie]).await;
        assert_eq!(b.headers()[LOCATION], "/login/second-factor");
    }
    // B's own cookie, tampered anywhere, does nothing.
    let mut parts: Vec<String> = value_b.split('.').map(str::to_owned).collect();
    assert_eq!(parts.len(), 3);
    for i in 0..3 {
        let mut tampered = parts.clone();
        let flipped: String = tampered[i]
            .chars()
            .enumerate()
            .map(|(k, c)| {
                if k == 3 {
                    if c == 'A' { 'B' } else { 'A' }
                } else {
                    c
                }
            })
            .collect();
        tampered[i] = flipped;
        let cookie = format!("{name_b}={}", tampered.join("."));
        let b = web_sign_in(&world, "patient.b", &[cookie]).await;
        assert_eq!(b.headers()[LOCATION], "/login/second-factor", "part {i}");
    }
    parts.truncate(2);
    let b = web_sign_in(
        &world,
        "patient.b",
        &[format!("{name_b}={}", parts.join("."))],
    )
    .await;
    assert_eq!(b.headers()[LOCATION], "/login/second-factor");
    // A wrong password from a trusted device is still just wrong.
    let form = world.get("/login").send().await.unwrap();
    let login = set_cookies(&form, "__Host-tiaki_login=").pop().unwrap();
    let csrf = login.split_once('=').unwrap().1.to_owned();
    let wrong = world
        .client
        .post(world.url("/login"))
        .header(COOKIE, format!("{login}; {device_b}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "patient.b"),
            ("password", "not it at all"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // The genuine cookie still works.
    let b = web_sign_in(&world, "patient.b", std::slice::from_ref(&device_b)).await;
    assert_eq!(b.headers()[LOCATION], "/home");
}

#[tokio::test]
async fn a_factor_change_forgets_every_trusted_device() {
    let world = World::start().await;
    let (session, device) = sign_in_trusting(&world, "patient.c").await;
    let token = token_of(&session);
    // A fresh session (it just presented a factor) makes new recovery codes.
    let made = world
        .client
        .post(world.url("/api/v1/account/recovery-codes"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    assert!(
        api_get(&world, &token, "/api/v1/trusted-devices")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    let again = web_sign_in(&world, "patient.c", &[device]).await;
    assert_eq!(again.headers()[LOCATION], "/login/second-factor");
}
