//! The sign-in form over plain HTTP, sending exactly the headers browsers send.
//!
//! Pages answer with `Referrer-Policy: no-referrer`; under that policy browsers send
//! `Origin: null` on form posts (Fetch standard, "append a request `Origin` header"),
//! with `Sec-Fetch-Site` saying where the post really came from.

use super::server::{Logins as _, ServerOptions, demo_copy};

/// What a browser holds after loading the sign-in page: the CSRF cookie and field.
async fn sign_in_page(http: &reqwest::Client, base: &str) -> (String, String) {
    let response = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-tiaki_login="))
        .expect("the sign-in page sets its CSRF cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-in form carries a CSRF field")
        .to_owned();
    (cookie, csrf)
}

fn form_body(csrf: &str, username: &str, password: &str) -> String {
    // Demo usernames, passwords and tokens are URL-safe already.
    format!("csrf={csrf}&username={username}&password={password}")
}

/// Posts the sign-in form as a browser would, with the given `Origin` and
/// `Sec-Fetch-Site`; gives the status and the `Location`.
async fn post_sign_in(
    base: &str,
    origin: &str,
    fetch_site: &str,
    username: &str,
    password: &str,
) -> (u16, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (cookie, csrf) = sign_in_page(&http, base).await;
    let response = http
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .header("origin", origin)
        .header("sec-fetch-site", fetch_site)
        .header("sec-fetch-mode", "navigate")
        .body(form_body(&csrf, username, password))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, location)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_form_accepts_same_origin_posts_and_refuses_cross_site_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo_copy(&data);
    let server = ServerOptions::new(&data).start();
    let logins = server.logins();
    let nurse = logins.by_username("nurse.lakes");
    let base = server.base.as_str();
    let own_origin = server.base.clone();

    // A same-origin post with a real Origin: signed in.
    let (status, location) = post_sign_in(
        base,
        &own_origin,
        "same-origin",
        &nurse.username,
        &nurse.password,
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/login/second-factor"));

    // Cross-site posts are refused whatever their Origin says.
    for origin in ["https://evil.example", "null"] {
        let (status, _) =
            post_sign_in(base, origin, "cross-site", &nurse.username, &nurse.password).await;
        assert_eq!(status, 403, "a cross-site post with Origin {origin} got in");
    }

    // A same-origin post from a page whose referrer policy is no-referrer carries
    // `Origin: null`: that is the server's own page, and it must work.
    let (status, location) = post_sign_in(
        base,
        "null",
        "same-origin",
        &nurse.username,
        &nurse.password,
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/login/second-factor"),
        "a same-origin sign-in with Origin: null (what browsers send under the pages' \
         Referrer-Policy: no-referrer) was refused"
    );
}
