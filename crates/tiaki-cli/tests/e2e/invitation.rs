//! Registration by invitation in a real browser: a practice admin finds an enrolled
//! patient who has no account and invites them (the invitation is emailed to the
//! outbox and shown once); the patient opens the link, chooses a username and a
//! password, is taken straight to authenticator setup, enrols TOTP, lands on their own
//! record, and can sign in again later with password and second factor. The used
//! invitation is dead.

use super::server::{Logins as _, ServerOptions, demo_copy, second_factor};
use super::webdriver::{Browser, Driver, WAIT};
use std::path::Path;
use std::time::{Duration, Instant};

const PASSWORD: &str = "harakeke flax weaving by the river";

async fn sign_in_with(b: &Browser, base: &str, username: &str, password: &str, code: &str) {
    b.goto(&format!("{base}/login")).await;
    b.fill("#username", username).await;
    b.fill("#password", password).await;
    let button = b.find("#sign-in").await;
    b.click(&button).await;
    b.wait_for_path("/login/second-factor").await;
    b.fill("#code", code).await;
    let verify = b.find("#verify").await;
    b.click(&verify).await;
}

async fn sign_out(b: &Browser) {
    let logout = b.find("#logout").await;
    b.click(&logout).await;
    b.wait_for_path("/login").await;
}

/// Undoes quoted-printable (soft line breaks and `=XX`).
pub fn decode_qp(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = joined
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits for an `.eml` in the outbox that mentions `needle`.
async fn outbox_message(outbox: &Path, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        for entry in std::fs::read_dir(outbox).into_iter().flatten().flatten() {
            let text = decode_qp(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            if text.contains(needle) {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no message in {} mentions {needle}",
            outbox.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_registration_totp_enrolment_and_sign_in() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo_copy(&data);
    let server = ServerOptions::new(&data)
        // Staff sign in with their authenticator app here, as in the demo.
        .arg("--staff-totp-allowed")
        .arg("true")
        .start();
    let driver = Driver::start(dir.path()).await;
    let b = driver.browser(&dir.path().join("profile")).await;
    let logins = server.logins();
    let admin = logins.by_username("practice-admin.kowhai").clone();
    let (given, family) = tiaki_core::demo::AWAITING_REGISTRATION[0];
    let name = format!("{given} {family}");

    // The practice admin finds the patient and invites them.
    let (_, code) = second_factor(&admin.username, &admin.password).unwrap();
    sign_in_with(&b, &server.base, &admin.username, &admin.password, &code).await;
    b.wait_for_path("/patients").await;
    b.fill("#q", family).await;
    let search = b.find("#search").await;
    b.click(&search).await;
    b.find("#results").await;
    let mut found = None;
    for link in b.find_all("#results a.patient-link").await {
        if b.text(&link).await == name {
            found = Some(link);
        }
    }
    b.click(&found.unwrap_or_else(|| panic!("{name} is not in the results")))
        .await;
    let invitation = b.find("#invitation").await;
    b.click(&invitation).await;
    b.find("#not-registered").await;
    let email = format!(
        "{}.{}@example.test",
        given.to_lowercase(),
        family.to_lowercase()
    );
    b.fill("#email", &email).await;
    let invite = b.find("#invite").await;
    b.click(&invite).await;
    let link = b.text_of("#invitation-link").await;
    let code = b.text_of("#invitation-code").await;
    assert!(
        link.starts_with(&format!("{}/register?token=", server.base)),
        "{link}"
    );
    assert!(link.ends_with(&code));
    let mail = outbox_message(&data.join("outbox"), &code).await;
    assert!(mail.contains(&format!("To: {email}")), "{mail}");
    assert!(mail.contains(&link), "the emailed link is the one shown");
    sign_out(&b).await;

    // The patient opens the link and registers.
    b.goto(&link).await;
    let invited = b.text_of("#invited-by").await;
    assert!(invited.contains("Kōwhai Health Centre"), "{invited}");
    b.fill("#username", "hine.karaka").await;
    b.fill("#password", PASSWORD).await;
    b.fill("#confirm", PASSWORD).await;
    let register = b.find("#register").await;
    b.click(&register).await;

    // Straight on to authenticator setup: the account can do nothing else yet.
    b.wait_for_path("/login/second-factor").await;
    let secret: String = b
        .text_of("#totp-secret")
        .await
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let totp = tiaki_crypto::TotpSecret::from_base32(&secret).expect("a base32 TOTP seed");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    b.fill("#code", &totp.code_at(now).unwrap()).await;
    let confirm = b.find("#confirm").await;
    b.click(&confirm).await;
    // The next page may still be loading: wait for the codes before counting them.
    b.find("#recovery-codes li code").await;
    let codes = b.find_all("#recovery-codes li code").await;
    assert_eq!(codes.len(), 10, "ten recovery codes are shown once");
    let recovery = b.text(&codes[0]).await;
    let go_on = b.find("#continue").await;
    b.click(&go_on).await;
    assert_eq!(b.text_of("#patient-name").await, name, "their own record");
    let own = b.path().await;
    assert!(own.starts_with("/patients/"), "{own}");
    sign_out(&b).await;

    // Later: password and second factor sign in again, to the same record.
    sign_in_with(&b, &server.base, "hine.karaka", PASSWORD, &recovery).await;
    b.wait_for_path(&own).await;
    assert_eq!(b.text_of("#patient-name").await, name);
    sign_out(&b).await;

    // The invitation was used up.
    b.goto(&link).await;
    let heading = b.text_of("#message-heading").await;
    assert_eq!(heading, "This invitation can't be used");

    b.quit().await;
    drop(driver);
    drop(server);
    println!("invitation journey took {:?}", started.elapsed());
}
