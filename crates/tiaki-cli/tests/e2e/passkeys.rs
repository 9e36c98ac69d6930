//! Passkeys in a real browser: headless Chromium with a virtual WebAuthn authenticator
//! (the WebDriver extension), against the real server at `http://localhost:PORT` (the
//! relying party is `localhost`; WebAuthn does not accept an IP address). A patient
//! registers a passkey and signs in with it after the password, then with it alone;
//! staff, where TOTP is not allowed for them, must register one before they get in; and
//! a session is signed out from another session's page.

use super::server::{DemoLogin, Logins as _, Server, ServerOptions, demo_copy};
use super::webdriver::{Browser, Driver, WAIT};
use std::time::{Duration, Instant};
use tempfile::TempDir;

// Fields drop in order: chromedriver (closing every browser) before the server, and
// the directory holding the browser profiles last of all.
struct Stage {
    driver: Driver,
    server: Server,
    logins: Vec<DemoLogin>,
    dir: TempDir,
}

fn stage_server(options: impl FnOnce(ServerOptions) -> ServerOptions) -> (Server, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo_copy(&data);
    let server = options(ServerOptions::new(&data)).start();
    (server, dir)
}

async fn stage(options: impl FnOnce(ServerOptions) -> ServerOptions) -> (Stage, Browser) {
    let (server, dir) = stage_server(options);
    let driver = Driver::start(dir.path()).await;
    let browser = driver.browser(&dir.path().join("profile")).await;
    let logins = server.logins();
    (
        Stage {
            driver,
            server,
            logins,
            dir,
        },
        browser,
    )
}

impl Stage {
    /// A URL by name, which passkeys need.
    fn url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.server.addr.port())
    }

    fn first(&self, role: &str) -> DemoLogin {
        self.logins
            .iter()
            .find(|l| l.role == role)
            .unwrap_or_else(|| panic!("no demo {role}"))
            .clone()
    }
}

/// Types the username and password and waits for the second-factor page.
async fn password_step(stage: &Stage, b: &Browser, login: &DemoLogin) {
    b.goto(&stage.url("/login")).await;
    b.fill("#username", &login.username).await;
    b.fill("#password", &login.password).await;
    let button = b.find("#sign-in").await;
    b.click(&button).await;
    b.wait_for_path("/login/second-factor").await;
}

/// Waits until the browser has left the sign-in pages.
async fn wait_signed_in(b: &Browser) {
    let deadline = Instant::now() + WAIT;
    loop {
        let path = b.path().await;
        if !path.starts_with("/login") {
            return;
        }
        if Instant::now() >= deadline {
            let source = b.page_source().await;
            panic!("still on {path}; the page was:\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_out(b: &Browser) {
    let logout = b.find("#logout").await;
    b.click(&logout).await;
    b.wait_for_path("/login").await;
}

/// Clicks a passkey button once the script has shown it.
async fn click_passkey_button(b: &Browser, css: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let button = b.find(css).await;
        if b.attribute(&button, "hidden").await.is_none() {
            b.click(&button).await;
            return;
        }
        if Instant::now() >= deadline {
            panic!("{css} stayed hidden: the passkey script did not run");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_patient_registers_a_passkey_and_signs_in_with_it() {
    let (stage, b) = stage(|o| o).await;
    let authenticator = b.add_virtual_authenticator().await;
    let patient = stage.logins.patients()[3].clone();

    // Signed in with password and code, the person adds a passkey.
    password_step(&stage, &b, &patient).await;
    let (_, code) = super::server::second_factor(&patient.username, &patient.password).unwrap();
    b.fill("#code", &code).await;
    let verify = b.find("#verify").await;
    b.click(&verify).await;
    wait_signed_in(&b).await;
    // The same person is also signed in elsewhere (the API): adding a passkey is a
    // factor change, which ends that session.
    let elsewhere =
        super::api::Api::login(&stage.server.base, &patient.username, &patient.password).await;
    let me = |token: String| {
        let http = elsewhere.http.clone();
        let url = stage.server.url("/api/v1/me");
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(me(elsewhere.token.clone()).await, 200);
    b.goto(&stage.url("/account/security")).await;
    assert!(b.try_find("#no-passkeys").await.is_some());
    b.fill("#passkey-name", "Test laptop").await;
    click_passkey_button(&b, "#add-passkey").await;
    b.wait_for_path("/account/security").await;
    let row = b.find("tr.passkey").await;
    assert!(b.text(&row).await.contains("Test laptop"));
    assert!(b.text_of("#notice").await.contains("passkey is added"));
    assert_eq!(
        me(elsewhere.token.clone()).await,
        401,
        "the other session is over"
    );
    let held = b.virtual_credentials(&authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    let rp = held[0]["rpId"].as_str().unwrap_or_default().to_owned();
    assert_eq!(rp, "localhost");

    // Signed out, the person signs in with the password and the passkey.
    sign_out(&b).await;
    password_step(&stage, &b, &patient).await;
    assert!(b.page_source().await.contains("Use your passkey"));
    click_passkey_button(&b, "#use-passkey").await;
    wait_signed_in(&b).await;
    b.goto(&stage.url("/account/security")).await;
    let used = b.text(&b.find("tr.passkey").await).await;
    assert!(!used.contains("never"), "last used is recorded: {used}");
    let held = b.virtual_credentials(&authenticator).await;
    assert!(
        held[0]["signCount"].as_u64().unwrap_or_default() >= 1,
        "{held:?}"
    );

    // The passkey is discoverable: it signs in alone, no username or password.
    assert_eq!(held[0]["isResidentCredential"], true, "{held:?}");
    sign_out(&b).await;
    b.goto(&stage.url("/login")).await;
    click_passkey_button(&b, "#passkey-sign-in").await;
    wait_signed_in(&b).await;
    b.goto(&stage.url("/account/sessions")).await;
    b.wait_for_path("/account/sessions").await;
    let held = b.virtual_credentials(&authenticator).await;
    assert!(
        held[0]["signCount"].as_u64().unwrap_or_default() >= 2,
        "{held:?}"
    );
    b.quit().await;
}

#[tokio::test]
async fn staff_must_register_a_passkey_where_totp_is_not_allowed() {
    let (stage, b) = stage(|mut o| {
        o.envs
            .push(("TIAKI_STAFF_TOTP_ALLOWED".to_owned(), "false".to_owned()));
        o
    })
    .await;
    assert!(
        !stage.server.stdout().contains("staff_totp_allowed = true"),
        "{}",
        stage.server.stdout()
    );
    let authenticator = b.add_virtual_authenticator().await;
    let clinician = stage.first("clinician");
    let totp = tiaki_crypto::TotpSecret::from_base32(&clinician.totp_secret).unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };

    // The password leads to a passkey set-up, after confirming with the old app.
    password_step(&stage, &b, &clinician).await;
    b.find("#confirm-first").await;
    assert!(b.try_find("#verify").await.is_none(), "no way in with TOTP");
    b.fill("#code", &totp.code_at(now()).unwrap()).await;
    let confirm = b.find("#confirm").await;
    b.click(&confirm).await;
    b.find("#create-passkey").await;
    b.fill("#passkey-name", "Surgery PC").await;
    click_passkey_button(&b, "#create-passkey").await;
    wait_signed_in(&b).await;
    assert_eq!(b.virtual_credentials(&authenticator).await.len(), 1);

    // Next time: the passkey, and an authenticator code does not do instead.
    sign_out(&b).await;
    password_step(&stage, &b, &clinician).await;
    b.fill("#code", &totp.code_at(now()).unwrap()).await;
    let verify = b.find("#verify").await;
    b.click(&verify).await;
    b.find("#code-error").await;
    assert_eq!(b.path().await, "/login/second-factor");
    click_passkey_button(&b, "#use-passkey").await;
    wait_signed_in(&b).await;
    b.goto(&stage.url("/account/security")).await;
    assert!(
        b.text(&b.find("tr.passkey").await)
            .await
            .contains("Surgery PC")
    );
    assert!(b.try_find("#totp-not-allowed").await.is_some());
    b.quit().await;
}

#[tokio::test]
async fn a_session_is_signed_out_from_another_sessions_page() {
    let (server, dir) = stage_server(|o| o);
    let driver = Driver::start(dir.path()).await;
    let logins = server.logins();
    let patient = logins.patients()[5].clone();
    let stage = Stage {
        driver,
        server,
        logins,
        dir,
    };
    let laptop = stage.driver.browser(&stage.dir.path().join("laptop")).await;
    let phone = stage.driver.browser(&stage.dir.path().join("phone")).await;
    for b in [&laptop, &phone] {
        password_step(&stage, b, &patient).await;
        let (_, code) = super::server::second_factor(&patient.username, &patient.password).unwrap();
        b.fill("#code", &code).await;
        let verify = b.find("#verify").await;
        b.click(&verify).await;
        wait_signed_in(b).await;
    }
    // The laptop sees both sessions and signs the phone's out.
    laptop.goto(&stage.url("/account/sessions")).await;
    let rows = laptop.find_all("tr.session").await;
    assert_eq!(rows.len(), 2);
    let mut other = None;
    for row in &rows {
        if !laptop.text(row).await.contains("(this device)") {
            other = laptop.attribute(row, "id").await;
        }
    }
    let other = other.expect("the phone's session is listed");
    let button = laptop.find(&format!("#{other} button.revoke")).await;
    laptop.click(&button).await;
    laptop.find("#notice").await;
    assert_eq!(laptop.find_all("tr.session").await.len(), 1);
    // The phone is signed out: its next page is the sign-in page.
    phone.goto(&stage.url("/account/sessions")).await;
    phone.wait_for_path("/login").await;
    // The laptop is still in.
    laptop.goto(&stage.url("/account/sessions")).await;
    laptop.wait_for_path("/account/sessions").await;
    laptop.quit().await;
    phone.quit().await;
}
