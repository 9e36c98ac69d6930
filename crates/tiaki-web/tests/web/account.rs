//! A person's own sessions: listed with when, where from and what device; one revoked
//! from another session's page or the API; all others revoked at once. Someone else's
//! session cannot be touched, or even confirmed to exist.

use super::harness::World;
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, USER_AGENT};

const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                     (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

async fn api_sign_in(world: &World, username: &str, agent: &str) -> String {
    let response = world
        .client
        .post(world.url("/api/v1/sessions"))
        .header(USER_AGENT, agent)
        .json(&serde_json::json!({
            "username": username,
            "password": super::harness::PASSWORD,
            "recovery_code": world.recovery_code(username).await,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn status(world: &World, method: Method, path: &str, token: &str) -> u16 {
    world
        .client
        .request(method, world.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_through_the_api() {
    let world = World::start().await;
    let laptop = api_sign_in(&world, "patient.c", "curl/8.5.0").await;
    let phone = api_sign_in(&world, "patient.c", PHONE).await;
    let list: serde_json::Value = world
        .client
        .get(world.url("/api/v1/sessions"))
        .bearer_auth(&laptop)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:#?}");
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "curl/8.5.0");
    assert_eq!(current[0]["address"], "127.0.0.1");
    let phone_id = list.iter().find(|s| s["user_agent"] == PHONE).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another person can neither revoke it nor learn that it exists.
    let stranger = world.login("patient.b").await;
    let path = format!("/api/v1/sessions/{phone_id}");
    assert_eq!(
        status(&world, Method::DELETE, &path, &stranger.token).await,
        404
    );
    assert_eq!(status(&world, Method::GET, "/api/v1/me", &phone).await, 200);

    assert_eq!(status(&world, Method::DELETE, &path, &laptop).await, 204);
    assert_eq!(status(&world, Method::GET, "/api/v1/me", &phone).await, 401);
    assert_eq!(
        status(&world, Method::GET, "/api/v1/me", &laptop).await,
        200
    );

    // Revoke all others: two more sign-ins end, this one stays.
    let a = api_sign_in(&world, "patient.c", "curl/8.5.0").await;
    let b = api_sign_in(&world, "patient.c", PHONE).await;
    let revoked: serde_json::Value = world
        .client
        .delete(world.url("/api/v1/sessions/others"))
        .bearer_auth(&laptop)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["revoked"], 2);
    for token in [&a, &b] {
        assert_eq!(status(&world, Method::GET, "/api/v1/me", token).await, 401);
    }
    assert_eq!(
        status(&world, Method::GET, "/api/v1/me", &laptop).await,
        200
    );
    assert_eq!(
        status(&world, Method::GET, "/api/v1/me", &stranger.token).await,
        200
    );
}

#[tokio::test]
async fn a_session_is_signed_out_from_another_sessions_page() {
    let world = World::start().await;
    let desk = world.login("clinician.x").await;
    let phone = api_sign_in(&world, "clinician.x", PHONE).await;
    let page = world
        .page(Method::GET, "/account/sessions", Some(&desk))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Safari on iPhone"), "{html}");
    assert!(html.contains("(this device)"));
    let phone_id = html
        .split("<tr class=\"session\" id=\"session-")
        .skip(1)
        .find(|row| row.contains("iPhone"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    let path = format!("/account/sessions/{phone_id}/revoke");
    let forged = world
        .page(Method::POST, &path, Some(&desk))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(status(&world, Method::GET, "/api/v1/me", &phone).await, 200);

    let done = world
        .page(Method::POST, &path, Some(&desk))
        .form(&[("csrf", desk.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()[LOCATION], "/account/sessions?done=one");
    assert_eq!(status(&world, Method::GET, "/api/v1/me", &phone).await, 401);

    let other = api_sign_in(&world, "clinician.x", "curl/8.5.0").await;
    let everywhere = world
        .page(Method::POST, "/account/sessions/revoke-others", Some(&desk))
        .form(&[("csrf", desk.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(everywhere.status(), 303);
    assert_eq!(status(&world, Method::GET, "/api/v1/me", &other).await, 401);
    let still = world
        .client
        .get(world.url("/account/sessions?done=others"))
        .header(COOKIE, format!("__Host-tiaki_session={}", desk.token))
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200);
    assert!(
        still
            .text()
            .await
            .unwrap()
            .contains("signed out everywhere else")
    );
}
