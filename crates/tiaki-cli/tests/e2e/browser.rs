//! Real-browser journeys: headless Chromium, driven over WebDriver, against the real
//! server. Each journey has its own server (a copy of the seeded demo), chromedriver
//! and browser profile, so they run side by side and fail independently.

use super::api::Api;
use super::files::{self, Rng};
use super::server::{DemoLogin, Logins as _, Server, ServerOptions, demo_copy};
use super::uploads::read_back;
use super::webdriver::{Browser, Driver, Element, WAIT};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tiaki_core::leaks::marks::originals;
use tiaki_core::leaks::reference::Reference;

// Fields drop in order: chromedriver (closing every browser) before the server, and
// the directory holding the browser profile last of all.
struct Journey {
    browser: Browser,
    _driver: Driver,
    server: Server,
    logins: Vec<DemoLogin>,
    rng: Rng,
    dir: TempDir,
}

async fn journey() -> Journey {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo_copy(&data);
    let server = ServerOptions::new(&data).start();
    let driver = Driver::start(dir.path()).await;
    let browser = driver.browser(&dir.path().join("profile")).await;
    let logins = server.logins();
    Journey {
        browser,
        _driver: driver,
        server,
        logins,
        rng: Rng::from_env("TIAKI_E2E_SEED"),
        dir,
    }
}

impl Journey {
    async fn sign_in(&self, username: &str, password: &str) {
        let b = &self.browser;
        b.goto(&self.server.url("/login")).await;
        b.fill("#username", username).await;
        b.fill("#password", password).await;
        let button = b.find("#sign-in").await;
        b.click(&button).await;
        // A right password leads to the second-factor page; a wrong one stays put.
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if b.try_find("#login-error").await.is_some() {
                return;
            }
            if b.try_find("#code").await.is_some() {
                let (_, code) = super::server::second_factor(username, password)
                    .expect("a demo login with a second factor");
                b.fill("#code", &code).await;
                let verify = b.find("#verify").await;
                b.click(&verify).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Goes to `path` and checks the answer is the one "Not found" page.
    async fn assert_not_found(&self, path: &str) {
        let b = &self.browser;
        b.goto(&self.server.url(path)).await;
        let heading = b.text_of("h1#problem").await;
        assert_eq!(heading, "Not found", "{path} should be not found");
        assert!(
            b.title().await.starts_with("Not found"),
            "{path}: page title"
        );
        assert!(
            b.page_source()
                .await
                .contains("There is nothing here, or you do not have access to it."),
            "{path}: not the standard not-found message"
        );
    }

    async fn link_texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for link in self.browser.find_all(css).await {
            out.push(self.browser.text(&link).await);
        }
        out
    }

    /// The link (matching `css`) whose text is exactly `text`.
    async fn link_named(&self, css: &str, text: &str) -> Element {
        for link in self.browser.find_all(css).await {
            if self.browser.text(&link).await == text {
                return link;
            }
        }
        panic!(
            "no {css} named {text:?}; there are {:?}",
            self.link_texts(css).await
        );
    }

    /// Fills and submits the upload form; waits for the notice.
    async fn upload(&self, title: &str, kind: Option<&str>, file: &std::path::Path) {
        let b = &self.browser;
        b.find("#upload-form").await;
        b.fill("#title", title).await;
        match kind {
            Some(kind) => {
                let option = b.find(&format!("#type option[value=\"{kind}\"]")).await;
                b.click(&option).await;
            }
            None => assert!(
                b.try_find("#type").await.is_none(),
                "patients must not be offered a document type"
            ),
        }
        let input = b.find("#file").await;
        b.send_keys(&input, &Browser::upload_path(file).display().to_string())
            .await;
        let button = b.find("#upload").await;
        b.click(&button).await;
        let notice = b.text_of("#notice").await;
        assert!(
            notice.contains("uploaded"),
            "unexpected notice after upload: {notice}"
        );
        let titles = self.link_texts("#documents a.document-link").await;
        assert!(
            titles.iter().any(|t| t == title),
            "{title:?} is not in the documents table: {titles:?}"
        );
    }
}

fn element_arg(element: &Element) -> Value {
    json!({ super::webdriver::ELEMENT: element.id() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_signs_in_reads_uploads_and_signs_out() {
    let started = Instant::now();
    let mut j = journey().await;
    let me = j.logins.patients()[3].clone();
    let patient = me.patient().to_owned();
    let b = &j.browser;

    // A wrong password: an error on the sign-in page, and no session.
    j.sign_in(&me.username, "definitely-not-the-password").await;
    let error = b.text_of("#login-error").await;
    assert!(error.contains("don't match"), "login error was {error:?}");
    assert_eq!(b.path().await, "/login");
    assert!(
        !b.cookies()
            .await
            .iter()
            .any(|c| c["name"] == "__Host-tiaki_session"),
        "a failed sign-in must not set a session cookie"
    );

    // The right one: straight to their own documents.
    j.sign_in(&me.username, &me.password).await;
    b.wait_for_path(&format!("/patients/{patient}")).await;
    assert_eq!(b.text_of("#patient-name").await, me.display_name);
    let cookies = b.cookies().await;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "__Host-tiaki_session")
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    assert_eq!(session["httpOnly"], json!(true), "{session}");
    assert_eq!(session["secure"], json!(true), "{session}");
    assert_eq!(session["sameSite"], json!("Strict"), "{session}");
    assert_eq!(session["path"], json!("/"), "{session}");

    let api = Api::login(&j.server.base, &me.username, &me.password).await;
    let listed = api.documents(&patient).await;
    let shown = j.link_texts("#documents a.document-link").await;
    assert!(!shown.is_empty(), "the documents table is empty");
    assert_eq!(shown.len(), listed.len(), "page and API disagree");

    // Upload a photo through the form.
    let nonce = files::nonce(&mut j.rng);
    let photo = files::png(37, 23, &mut j.rng);
    let photo_path = j.dir.path().join("rash-photo.png");
    std::fs::write(&photo_path, &photo).unwrap();
    let photo_title = format!("Rash photo {nonce}");
    j.upload(&photo_title, None, &photo_path).await;
    let shot = b
        .screenshot(&j.dir.path().join("patient-documents.png"))
        .await;
    assert!(
        shot.starts_with(b"\x89PNG\r\n\x1a\n") && shot.len() > 1000,
        "the screenshot is not a PNG ({} bytes)",
        shot.len()
    );

    // It is stored byte for byte, as the patient's own upload, and served with the
    // reader's mark added to those bytes.
    let stored = api.documents(&patient).await;
    let doc = stored
        .iter()
        .find(|d| d.title == photo_title)
        .expect("the upload is listed by the API");
    assert_eq!(doc.kind, "patient_upload");
    assert_eq!(doc.content_type, "image/png");
    assert_eq!(doc.filename, "rash-photo.png");
    assert_eq!(doc.size_bytes, photo.len() as u64);
    let back = read_back(&api, &doc.id).await;
    assert_eq!(back.status, 200);
    assert!(
        back.is_marked_copy_of(&doc.id, &photo),
        "the photo served ({} bytes, {}) is not the upload ({} bytes) plus a mark",
        back.bytes.len(),
        back.mark,
        photo.len()
    );

    // Its page shows the image, decoded by the browser from the real content.
    let link = j
        .link_named("#documents a.document-link", &photo_title)
        .await;
    b.click(&link).await;
    b.wait_for_path(&format!("/documents/{}", doc.id)).await;
    assert_eq!(b.text_of("#document-title").await, photo_title);
    b.find("#view").await;
    b.find("#download").await;
    let preview = b.find("#preview").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let size = b
            .execute(
                "const i = arguments[0]; return [i.complete, i.naturalWidth, i.naturalHeight];",
                vec![element_arg(&preview)],
            )
            .await;
        if size == json!([true, 37, 23]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the preview did not load as a 37x23 image: {size}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A letter as plain text; opened in the browser it is exactly what was sent, with
    // a last line naming who downloaded it.
    b.goto(&j.server.url(&format!("/patients/{patient}"))).await;
    let letter = files::text(2000, &mut j.rng);
    let letter_path = j.dir.path().join("letter.txt");
    std::fs::write(&letter_path, &letter).unwrap();
    let letter_title = format!("Letter to my doctor {nonce}");
    j.upload(&letter_title, None, &letter_path).await;
    let letter_doc = api
        .documents(&patient)
        .await
        .into_iter()
        .find(|d| d.title == letter_title)
        .expect("the letter is listed");
    b.goto(
        &j.server
            .url(&format!("/documents/{}/content", letter_doc.id)),
    )
    .await;
    let shown = b
        .execute(
            "const p = document.querySelector('pre'); return p ? p.textContent : document.body.textContent;",
            vec![],
        )
        .await;
    let shown = shown.as_str().unwrap_or_default().as_bytes();
    assert!(
        originals(shown).iter().any(|o| o == &letter),
        "the browser did not receive the letter's exact bytes plus a mark"
    );
    assert_eq!(
        Reference::find_all(shown).len(),
        1,
        "the copy carries one reference"
    );
    let mark_line = format!("Downloaded from Tiaki by {} (", me.display_name);
    assert!(
        shown
            .windows(mark_line.len())
            .any(|w| w == mark_line.as_bytes()),
        "the mark does not name the reader"
    );

    // Another patient's document is not found, like a missing one. (Twice only: a
    // third reach for someone else's record contains the session — the guard drills
    // show that; the BOLA matrix covers the patient page.)
    let other = j.logins.patients()[25].clone();
    let other_api = Api::login(&j.server.base, &other.username, &other.password).await;
    let other_doc = other_api.documents(other.patient()).await[0].id.clone();
    j.assert_not_found(&format!("/documents/{other_doc}")).await;
    j.assert_not_found(&format!("/documents/{other_doc}/content"))
        .await;

    // Sign out: back at the sign-in page, and the session is gone for good.
    b.goto(&j.server.url("/home")).await;
    b.wait_for_path(&format!("/patients/{patient}")).await;
    let logout = b.find("#logout").await;
    b.click(&logout).await;
    b.wait_for_path("/login").await;
    b.find("#sign-in").await;
    b.goto(&j.server.url("/home")).await;
    b.wait_for_path("/login").await;
    b.goto(&j.server.url(&format!("/patients/{patient}"))).await;
    b.wait_for_path("/login").await;

    j.browser_quit().await;
    println!("patient journey took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clinician_finds_own_patients_only_and_adds_a_lab_report() {
    let started = Instant::now();
    let mut j = journey().await;
    let clinician = j.logins.by_username("clinician.kowhai").clone();
    let practice = clinician.practice_id.clone().unwrap();
    let ours = j.logins.patients_of(&practice)[5].clone();
    let our_families: Vec<String> = j
        .logins
        .patients_of(&practice)
        .iter()
        .map(|p| p.family_name().to_owned())
        .collect();
    // A patient elsewhere whose family name no patient here shares, so a name search
    // that finds nothing proves the practice boundary, not a typo.
    let theirs = j
        .logins
        .patients()
        .into_iter()
        .find(|p| {
            p.practice_id.as_deref() != Some(practice.as_str())
                && !our_families.iter().any(|f| f == p.family_name())
        })
        .expect("a patient of another practice with a family name unique to it")
        .clone();
    let their_api = Api::login(&j.server.base, &theirs.username, &theirs.password).await;
    let their_nhi = their_api
        .get_json(&format!("/api/v1/patients/{}", theirs.patient()))
        .await["nhi"]
        .as_str()
        .unwrap()
        .to_owned();
    let their_doc = their_api.documents(theirs.patient()).await[0].id.clone();
    let b = &j.browser;

    j.sign_in(&clinician.username, &clinician.password).await;
    b.wait_for_path("/patients").await;
    b.fill("#q", ours.family_name()).await;
    let search = b.find("#search").await;
    b.click(&search).await;
    b.find("#results").await;
    let link = j
        .link_named("#results a.patient-link", &ours.display_name)
        .await;
    b.click(&link).await;
    b.wait_for_path(&format!("/patients/{}", ours.patient()))
        .await;
    assert_eq!(b.text_of("#patient-name").await, ours.display_name);

    let nonce = files::nonce(&mut j.rng);
    let title = format!("Full blood count {nonce}");
    let pdf = files::pdf(&format!("Haemoglobin 141 g/L {nonce}"));
    let pdf_path = j.dir.path().join("fbc.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    j.upload(&title, Some("lab_report"), &pdf_path).await;
    let rows = b.find_all("#documents tbody tr").await;
    let mut row_text = String::new();
    for row in rows {
        let text = b.text(&row).await;
        if text.contains(&title) {
            row_text = text;
        }
    }
    assert!(
        row_text.contains("Lab report"),
        "the new row does not say it is a lab report: {row_text:?}"
    );
    let api = Api::login(&j.server.base, &clinician.username, &clinician.password).await;
    let doc = api
        .documents(ours.patient())
        .await
        .into_iter()
        .find(|d| d.title == title)
        .expect("the lab report is listed by the API");
    assert_eq!(doc.kind, "lab_report");
    assert_eq!(doc.content_type, "application/pdf");
    assert_eq!(doc.size_bytes, pdf.len() as u64);
    let back = read_back(&api, &doc.id).await;
    assert_eq!(back.status, 200);
    assert!(
        back.is_marked_copy_of(&doc.id, &pdf),
        "not the PDF that was sent plus a mark ({} bytes, {})",
        back.bytes.len(),
        back.mark
    );
    // The patient sees it too.
    let own = Api::login(&j.server.base, &ours.username, &ours.password).await;
    assert!(
        own.documents(ours.patient())
            .await
            .iter()
            .any(|d| d.id == doc.id)
    );

    // Patients of another practice cannot be found by NHI or name, nor opened.
    for query in [their_nhi.as_str(), theirs.family_name()] {
        b.goto(&j.server.url("/patients")).await;
        b.fill("#q", query).await;
        let search = b.find("#search").await;
        b.click(&search).await;
        b.find("#no-results").await;
        assert!(
            b.find_all("a.patient-link").await.is_empty(),
            "searching {query:?} listed a patient of another practice"
        );
    }
    j.assert_not_found(&format!("/patients/{}", theirs.patient()))
        .await;
    assert!(
        !b.page_source().await.contains(&theirs.display_name),
        "the not-found page named the other practice's patient"
    );
    j.assert_not_found(&format!("/documents/{their_doc}")).await;
    j.assert_not_found(&format!("/documents/{their_doc}/content"))
        .await;

    j.browser_quit().await;
    println!("clinician journey took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reception_sees_that_documents_exist_but_not_their_content() {
    let started = Instant::now();
    let j = journey().await;
    let reception = j.logins.by_username("reception.harbourside").clone();
    let practice = reception.practice_id.clone().unwrap();
    let patient = j.logins.patients_of(&practice)[2].clone();
    let b = &j.browser;

    j.sign_in(&reception.username, &reception.password).await;
    b.wait_for_path("/patients").await;
    b.goto(&j.server.url(&format!("/patients/{}", patient.patient())))
        .await;
    assert_eq!(b.text_of("#patient-name").await, patient.display_name);
    assert!(
        b.try_find("#upload-form").await.is_none(),
        "reception must not be offered uploads to the clinical record"
    );
    let first = b.find("#documents a.document-link").await;
    let href = b.attribute(&first, "href").await.unwrap();
    let document = href.rsplit('/').next().unwrap().to_owned();
    b.click(&first).await;
    b.wait_for_path(&format!("/documents/{document}")).await;
    b.find("#document-title").await;
    b.find("#no-content").await;
    for absent in ["#view", "#download", "#preview"] {
        assert!(
            b.try_find(absent).await.is_none(),
            "reception's document page has {absent}"
        );
    }
    j.assert_not_found(&format!("/documents/{document}/content"))
        .await;
    j.assert_not_found(&format!("/documents/{document}/download"))
        .await;

    j.browser_quit().await;
    println!("reception journey took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_sees_the_platform_but_no_patient() {
    let started = Instant::now();
    let j = journey().await;
    let operator = j.logins.by_username("operator").clone();
    let patient = j.logins.patients()[0].clone();
    let api = Api::login(&j.server.base, &patient.username, &patient.password).await;
    let document = api.documents(patient.patient()).await[0].id.clone();
    let b = &j.browser;

    j.sign_in(&operator.username, &operator.password).await;
    b.wait_for_path("/operator").await;
    b.find("#practices").await;
    let rows = b.find_all("#practices tbody tr").await;
    assert_eq!(rows.len(), 3, "expected the three demo practices");
    let table = b.text_of("#practices").await;
    let mut practices: Vec<String> = j.logins.iter().filter_map(|l| l.practice.clone()).collect();
    practices.sort();
    practices.dedup();
    assert_eq!(practices.len(), 3);
    for name in &practices {
        assert!(table.contains(name.as_str()), "{name} missing from {table}");
    }
    assert!(
        !table.contains(&patient.display_name),
        "the overview names a patient"
    );

    j.assert_not_found(&format!("/patients/{}", patient.patient()))
        .await;
    j.assert_not_found(&format!("/documents/{document}")).await;
    j.assert_not_found(&format!("/documents/{document}/content"))
        .await;
    j.assert_not_found("/patients").await;

    j.browser_quit().await;
    println!("operator journey took {:?}", started.elapsed());
}

impl Journey {
    async fn browser_quit(self) {
        let Self {
            browser, server, ..
        } = self;
        browser.quit().await;
        drop(server);
    }
}
