//! A stolen password alone opens nothing: the second factor, its enrolment, replay and
//! single use, and the tokens that die when a factor changes.

use super::harness::{Backend, PASSWORD, World};
use super::sessions::api_login_with;
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use secrecy::SecretString;
use tiaki_crypto::TotpSecret;
use tiaki_domain::{ActorKind, StaffRole};
use tiaki_web::routes::{ROUTES, Surface};

/// A configuration that lets staff sign in with TOTP (the default asks for passkeys).
pub fn staff_totp() -> tiaki_core::CoreConfig {
    tiaki_core::CoreConfig {
        staff_totp_allowed: true,
        ..Default::default()
    }
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-tiaki_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
}

fn field(html: &str, marker: &str) -> String {
    html.split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("{marker} not in page"))
        .split(['"', '<'])
        .next()
        .unwrap()
        .to_owned()
}

/// Signs in on the web with a password and returns the password-only cookie.
async fn web_password(world: &World, username: &str) -> String {
    let form = world.get("/login").send().await.unwrap();
    let pair = session_or_login_cookie(&form);
    let csrf = pair.split_once('=').unwrap().1.to_owned();
    let response = world
        .client
        .post(world.url("/login"))
        .header(COOKIE, pair)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", username),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], "/login/second-factor");
    session_cookie(&response).unwrap()
}

fn session_or_login_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .find_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .unwrap()
}

#[tokio::test]
async fn a_password_only_session_reaches_no_data_route() {
    let world = World::start().await;
    let pending = world.pending("patient.a").await;
    let mut checked = 0;
    for spec in ROUTES.iter().filter(|r| r.surface != Surface::Public) {
        if spec.path.starts_with("/login/second-factor") {
            continue;
        }
        let path = spec
            .path
            .replace("{patient_id}", &world.patient_a.to_string())
            .replace("{document_id}", &world.doc_a.id.to_string())
            .replace("{session_id}", &pending.session.to_string())
            .replace("{access_id}", &tiaki_domain::AccessId::new().to_string());
        let method: Method = spec.method.parse().unwrap();
        let response = world
            .client
            .request(method, world.url(&path))
            .bearer_auth(&pending.token)
            .header(COOKIE, format!("__Host-tiaki_session={}", pending.token))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let to_second_factor = status == 303
            && response.headers()[LOCATION]
                .to_str()
                .unwrap()
                .starts_with("/login");
        assert!(
            status == 401 || to_second_factor,
            "{} {path} answered {status} to a password-only session",
            spec.method
        );
        checked += 1;
    }
    assert!(checked > 20, "{checked}");
}

#[tokio::test]
async fn totp_codes_work_once_and_recovery_codes_once() {
    // Staff here use an authenticator app, which the configuration must allow.
    let world = World::start_with(Backend::Sqlite, staff_totp()).await;
    let code = world.totp_now("clinician.x");
    let body = serde_json::json!({ "username": "clinician.x", "password": PASSWORD, "totp": code });
    let (first, _, _) = api_login_with(&world, body.clone()).await;
    assert_eq!(first, 201);
    // The same code again, seconds later (someone looking over a shoulder): refused.
    let (again, replay_body, _) = api_login_with(&world, body).await;
    assert_eq!(again, 401);
    assert!(replay_body.contains("second_factor_required"));
    // A code for another account's authenticator is just wrong.
    let foreign = serde_json::json!({ "username": "nurse.x", "password": PASSWORD,
        "totp": world.totp_now("reception.x") });
    assert_eq!(api_login_with(&world, foreign).await.0, 401);

    let recovery = world.recovery_code("nurse.x").await;
    let body = serde_json::json!({ "username": "nurse.x", "password": PASSWORD,
        "recovery_code": recovery.to_lowercase() });
    assert_eq!(api_login_with(&world, body.clone()).await.0, 201);
    assert_eq!(api_login_with(&world, body).await.0, 401, "used up");
    let both = serde_json::json!({ "username": "nurse.x", "password": PASSWORD,
        "totp": "123456", "recovery_code": "x" });
    assert_eq!(api_login_with(&world, both).await.0, 400);
}

#[tokio::test]
async fn enrolment_on_the_web_shows_a_key_then_recovery_codes_once() {
    // Staff here use an authenticator app, which the configuration must allow.
    let world = World::start_with(Backend::Sqlite, staff_totp()).await;
    let practice = world
        .store
        .patient(world.patient_a)
        .await
        .unwrap()
        .unwrap()
        .practice;
    world
        .core
        .create_account(
            "new.nurse",
            "New Nurse",
            &SecretString::from(PASSWORD),
            ActorKind::Staff {
                practice,
                role: StaffRole::Nurse,
            },
        )
        .await
        .unwrap();
    // An account with no authenticator cannot sign in through the API at all.
    let no_factor = serde_json::json!({ "username": "new.nurse", "password": PASSWORD,
        "totp": "000000" });
    assert_eq!(api_login_with(&world, no_factor).await.0, 401);

    let pending = web_password(&world, "new.nurse").await;
    let page = world
        .client
        .get(world.url("/login/second-factor"))
        .header(COOKIE, pending.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<svg"), "a QR code is drawn inline");
    let key = field(&html, "id=\"totp-secret\">");
    let uri = field(&html, "id=\"totp-uri\">").replace("&amp;", "&");
    assert!(
        uri.starts_with("otpauth://totp/Tiaki:new%2Enurse?secret="),
        "{uri}"
    );
    let secret = TotpSecret::from_base32(&key).unwrap();
    let csrf = field(&html, "name=\"csrf\" value=\"");

    // Reloading offers the same key (someone may already have scanned it).
    let again = world
        .client
        .get(world.url("/login/second-factor"))
        .header(COOKIE, pending.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(field(&again, "id=\"totp-secret\">"), key);

    // The seed is stored sealed, never in clear.
    let db = world.sqlite().await;
    let (sealed,): (Vec<u8>,) = sqlx::query_as("SELECT sealed_secret FROM totp_factors t JOIN accounts a ON a.id = t.account_id WHERE a.username = 'new.nurse'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(!sealed.windows(20).any(|w| w == secret.as_bytes()));

    let wrong = world
        .client
        .post(world.url("/login/second-factor/enrol"))
        .header(COOKIE, pending.clone())
        .form(&[("csrf", csrf.as_str()), ("code", "000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    let done = world
        .client
        .post(world.url("/login/second-factor/enrol"))
        .header(COOKIE, pending.clone())
        .form(&[
            ("csrf", csrf.as_str()),
            ("code", secret.code_at(now).unwrap().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let full = session_cookie(&done).unwrap();
    assert_ne!(full, pending);
    let html = done.text().await.unwrap();
    let codes: Vec<String> = html
        .split("<li><code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);

    // Signed in; the password-only session is over.
    let home = world
        .client
        .get(world.url("/home"))
        .header(COOKIE, full.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(home.headers()[LOCATION], "/patients");
    let old = world
        .client
        .get(world.url("/home"))
        .header(COOKIE, pending)
        .send()
        .await
        .unwrap();
    assert_eq!(old.headers()[LOCATION], "/login");

    // A recovery code from the page signs in once through the API.
    let body = serde_json::json!({ "username": "new.nurse", "password": PASSWORD,
        "recovery_code": codes[3] });
    assert_eq!(api_login_with(&world, body.clone()).await.0, 201);
    assert_eq!(api_login_with(&world, body).await.0, 401);
}

#[tokio::test]
async fn new_passwords_must_not_be_common_or_guessable() {
    let world = World::start().await;
    let practice = world
        .store
        .patient(world.patient_a)
        .await
        .unwrap()
        .unwrap()
        .practice;
    let kind = ActorKind::Staff {
        practice,
        role: StaffRole::Nurse,
    };
    for (password, code) in [
        ("short", "password_too_short"),
        ("Password1", "password_common"),
        ("new.nurse2024", "password_guessable"),
    ] {
        let refused = world
            .core
            .create_account(
                "new.nurse",
                "New Nurse",
                &SecretString::from(password),
                kind,
            )
            .await
            .unwrap_err();
        match refused {
            tiaki_core::CoreError::Invalid { code: got, message } => {
                assert_eq!(got, code, "{password}");
                assert!(
                    message.to_lowercase().contains("please"),
                    "kind and clear: {message}"
                );
            }
            other => panic!("{password}: {other:?}"),
        }
    }
    assert!(
        world
            .store
            .account_by_username("new.nurse")
            .await
            .unwrap()
            .is_none()
    );
}
