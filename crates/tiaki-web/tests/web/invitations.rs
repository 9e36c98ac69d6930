//! Registration by invitation: staff of the patient's practice (by role) invite an
//! enrolled patient who has no account; the invitation works once, until it expires,
//! and a newer one replaces it; staff elsewhere cannot even see the patient; the new
//! account belongs to the invited record and nothing else, and must set up its
//! second factor before it can do anything.

use super::harness::{Login, PASSWORD, World};
use super::mailbox::{link, messages_to, subject, token, wait_for, world_with_outbox};
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use tiaki_domain::{Nhi, PatientId};
use tiaki_store::Patient;
use time::{Date, Month, OffsetDateTime};

/// An enrolled patient of practice X with no account.
async fn unregistered(world: &World, given: &str, family: &str, n: u32) -> PatientId {
    let practice = world
        .store
        .patient(world.patient_a)
        .await
        .unwrap()
        .unwrap()
        .practice;
    let patient = Patient {
        id: PatientId::new(),
        practice,
        nhi: (n..)
            .find_map(|k| Nhi::synthesize(*b"ZWT", k * 11))
            .unwrap(),
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        date_of_birth: Date::from_calendar_date(1990, Month::May, 5).unwrap(),
        email: Some(format!("{}@example.test", given.to_lowercase())),
        created_at: OffsetDateTime::now_utc(),
    };
    world.core.create_patient(&patient).await.unwrap();
    patient.id
}

async fn invite(
    world: &World,
    login: &Login,
    patient: PatientId,
    email: &str,
) -> (u16, serde_json::Value) {
    let response = world
        .api(
            Method::POST,
            &format!("/api/v1/patients/{patient}/invitations"),
            Some(login),
        )
        .json(&serde_json::json!({ "email": email }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn register(world: &World, code: &str, username: &str) -> (u16, serde_json::Value) {
    let response = world
        .api(Method::POST, "/api/v1/registrations", None)
        .json(
            &serde_json::json!({ "invitation": code, "username": username, "password": PASSWORD }),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn only_the_patients_own_practice_invites_and_an_invitation_works_once() {
    let m = world_with_outbox().await;
    let world = &m.world;
    let hine = unregistered(world, "Hine", "Karaka", 50).await;

    // Other practices, nurses, patients and operators: not found, like a missing id.
    let missing = invite(
        world,
        &world.login("admin.x").await,
        PatientId::new(),
        "x@example.test",
    )
    .await;
    assert_eq!(missing.0, 404);
    for username in ["clinician.y", "nurse.x", "patient.a", "operator", "privacy"] {
        let refused = invite(
            world,
            &world.login(username).await,
            hine,
            "hine@example.test",
        )
        .await;
        assert_eq!(refused, missing, "{username} must not invite");
    }
    assert!(messages_to(&m.outbox, "hine@example.test").is_empty());

    // A registered patient needs no invitation.
    let admin = world.login("admin.x").await;
    let registered = invite(world, &admin, world.patient_a, "aroha@example.test").await;
    assert_eq!(registered.0, 400);
    assert_eq!(registered.1["code"], "already_registered");
    let bad = invite(world, &admin, hine, "not an address").await;
    assert_eq!(bad.1["code"], "email_invalid");

    // Reception invites; the link is emailed and shown once.
    let reception = world.login("reception.x").await;
    let (status, issued) = invite(world, &reception, hine, "hine@example.test").await;
    assert_eq!(status, 201, "{issued}");
    let code = issued["code"].as_str().unwrap().to_owned();
    let shown_link = issued["link"].as_str().unwrap().to_owned();
    let mail = wait_for(&m.outbox, "hine@example.test", "/register", 1).await;
    assert_eq!(link(&mail[0], "/register"), shown_link);
    assert_eq!(token(&shown_link), code);
    assert!(subject(&mail[0]).contains("invites you to Tiaki"));
    assert!(!mail[0].contains("ZWT"), "no NHI in the email");

    let status: serde_json::Value = world
        .get_json(
            &format!("/api/v1/patients/{hine}/invitations"),
            Some(&admin),
        )
        .await;
    assert_eq!(status["registered"], false);
    assert_eq!(status["invitations"][0]["status"], "pending");
    assert!(
        status["invitations"][0].get("code").is_none(),
        "tokens are never listed"
    );

    // A username must be sensible; the password must pass the policy; neither spends
    // the invitation.
    let bad_name = register(world, &code, "h").await;
    assert_eq!(bad_name.1["code"], "username_invalid");
    let weak = world
        .api(Method::POST, "/api/v1/registrations", None)
        .json(&serde_json::json!({ "invitation": code, "username": "hine.karaka", "password": "password1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 400);
    let taken = register(world, &code, "patient.b").await;
    assert_eq!(taken.1["code"], "username_taken");

    let (status, body) = register(world, &code, "Hine.Karaka").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["username"], "hine.karaka");

    // Once only; an unknown code looks exactly the same.
    let again = register(world, &code, "hine.two").await;
    assert_eq!(again.0, 400);
    assert_eq!(again.1["code"], "invitation_invalid");
    let (unknown, _) = tiaki_crypto::generate_token().unwrap();
    assert_eq!(register(world, &unknown, "hine.three").await, again);
    assert_eq!(register(world, "garbage", "hine.four").await, again);

    // The account is Hine's, and only Hine's; its address is the invited one.
    let hine_login = world.login("hine.karaka").await;
    let me = world.get_json("/api/v1/me", Some(&hine_login)).await;
    assert_eq!(me["patient_id"], hine.to_string());
    assert_eq!(me["display_name"], "Hine Karaka");
    let email = world
        .get_json("/api/v1/account/email", Some(&hine_login))
        .await;
    assert_eq!(email["address"], "hine@example.test");
    let foreign = world
        .api(
            Method::GET,
            &format!("/api/v1/patients/{}/documents", world.patient_a),
            Some(&hine_login),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);

    let status = world
        .get_json(
            &format!("/api/v1/patients/{hine}/invitations"),
            Some(&admin),
        )
        .await;
    assert_eq!(status["registered"], true);
    assert_eq!(status["invitations"][0]["status"], "used");
    let after = invite(world, &admin, hine, "hine@example.test").await;
    assert_eq!(after.1["code"], "already_registered");
}

#[tokio::test]
async fn invitations_expire_and_a_new_one_replaces_the_old() {
    let m = world_with_outbox().await;
    let world = &m.world;
    let tama = unregistered(world, "Tama", "Rewi", 60).await;
    let admin = world.login("admin.x").await;
    let (_, first) = invite(world, &admin, tama, "tama@example.test").await;
    let (_, second) = invite(world, &admin, tama, "tama@example.test").await;
    let first = first["code"].as_str().unwrap().to_owned();
    let second = second["code"].as_str().unwrap().to_owned();
    let replaced = register(world, &first, "tama.rewi").await;
    assert_eq!(replaced.1["code"], "invitation_invalid");
    let status = world
        .get_json(
            &format!("/api/v1/patients/{tama}/invitations"),
            Some(&admin),
        )
        .await;
    let statuses: Vec<&str> = status["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "revoked"]);

    // A week later (the clock moved by editing the row).
    sqlx::query("UPDATE invitations SET expires_at_ns = expires_at_ns - 8 * 86400 * 1000000000")
        .execute(&world.sqlite().await)
        .await
        .unwrap();
    let expired = register(world, &second, "tama.rewi").await;
    assert_eq!(expired, replaced, "expired and replaced look the same");
    let page = world
        .get(&format!("/register?token={second}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("ask your practice to send you a new one")
    );
    assert!(
        world
            .store
            .account_by_username("tama.rewi")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn registering_on_the_web_leads_straight_to_authenticator_setup() {
    let m = world_with_outbox().await;
    let world = &m.world;
    let ana = unregistered(world, "Ana", "Moana", 70).await;
    let clinician = world.login("clinician.x").await;

    // The staff page: the patient page links to it; the form sends the invitation.
    let patient_page = world
        .page(Method::GET, &format!("/patients/{ana}"), Some(&clinician))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(patient_page.contains(&format!("/patients/{ana}/invitation")));
    let nurse = world.login("nurse.x").await;
    let nurse_page = world
        .page(Method::GET, &format!("/patients/{ana}"), Some(&nurse))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !nurse_page.contains("/invitation"),
        "nurses are not offered invitations"
    );
    let refused = world
        .page(
            Method::GET,
            &format!("/patients/{ana}/invitation"),
            Some(&nurse),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);

    let form = world
        .page(
            Method::GET,
            &format!("/patients/{ana}/invitation"),
            Some(&clinician),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("value=\"ana@example.test\""),
        "the address on file is offered"
    );
    let issued = world
        .page(
            Method::POST,
            &format!("/patients/{ana}/invitation"),
            Some(&clinician),
        )
        .form(&[
            ("csrf", clinician.csrf.as_str()),
            ("email", "ana.moana@example.test"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 200);
    let html = issued.text().await.unwrap();
    let code = html
        .split("id=\"invitation-code\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    wait_for(&m.outbox, "ana.moana@example.test", &code, 1).await;

    // The patient registers.
    let form = world
        .get(&format!("/register?token={code}"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let cookie = super::mailbox_forms::form_cookie(&form);
    let html = form.text().await.unwrap();
    assert!(html.contains("Practice X has invited you"));
    let csrf = super::mailbox_forms::hidden(&html, "csrf");
    let done = world
        .client
        .post(world.url("/register"))
        .header(COOKIE, &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("token", code.as_str()),
            ("username", "ana.moana"),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()[LOCATION], "/login/second-factor");
    let session = done.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    // A password-only session: the enrolment page, and nothing else.
    let enrol = world
        .client
        .get(world.url("/login/second-factor"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(enrol.status(), 200);
    assert!(enrol.text().await.unwrap().contains("id=\"totp-secret\""));
    let home = world
        .client
        .get(world.url(&format!("/patients/{ana}")))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 303);
    assert_eq!(home.headers()[LOCATION], "/login/second-factor");
}
