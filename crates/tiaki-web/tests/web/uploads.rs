//! Hostile and broken uploads get a clear error and change nothing.

use super::content::Served;
use super::harness::{Backend, PNG, World, pdf_with};
use reqwest::Method;
use tiaki_core::CoreConfig;

async fn post(
    world: &World,
    who: &str,
    patient: tiaki_domain::PatientId,
    form: reqwest::multipart::Form,
) -> (u16, serde_json::Value) {
    let login = world.login(who).await;
    let response = world
        .api(
            Method::POST,
            &format!("/api/v1/patients/{patient}/documents"),
            Some(&login),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing_behind() {
    let config = CoreConfig {
        max_upload_bytes: 200 * 1024,
        ..CoreConfig::default()
    };
    let world = World::start_with(Backend::Sqlite, config).await;
    let a = world.patient_a;
    let docs_before = world.document_count().await;
    let blobs_before = world.blob_files().len();
    let big = {
        let mut b = pdf_with("big");
        b.resize(200 * 1024 + 1, b'x');
        b
    };
    let cases: Vec<(&str, reqwest::multipart::Form, u16, &str)> = vec![
        (
            "too large",
            World::upload_form("Big", "big.pdf", "application/pdf", big),
            413,
            "too_large",
        ),
        (
            "html",
            World::upload_form(
                "Page",
                "x.html",
                "text/html",
                b"<html><script>alert(1)</script>".to_vec(),
            ),
            415,
            "unsupported_type",
        ),
        (
            "svg",
            World::upload_form(
                "Pic",
                "x.svg",
                "image/svg+xml",
                b"<svg onload=alert(1)>".to_vec(),
            ),
            415,
            "unsupported_type",
        ),
        (
            "html as text",
            World::upload_form(
                "Notes",
                "x.txt",
                "text/plain",
                b"<!DOCTYPE html><html>".to_vec(),
            ),
            415,
            "unsupported_type",
        ),
        (
            "png declared pdf",
            World::upload_form("Scan", "scan.pdf", "application/pdf", PNG.to_vec()),
            415,
            "unsupported_type",
        ),
        (
            "pdf declared png",
            World::upload_form("Scan", "scan.png", "image/png", pdf_with("x")),
            415,
            "unsupported_type",
        ),
        (
            "empty",
            World::upload_form("Empty", "e.pdf", "application/pdf", Vec::new()),
            400,
            "empty_file",
        ),
        (
            "no title",
            World::upload_form("  ", "a.png", "image/png", PNG.to_vec()),
            400,
            "invalid_title",
        ),
        (
            "no file",
            reqwest::multipart::Form::new().text("title", "Only a title"),
            400,
            "missing_file",
        ),
        (
            "patient claims a clinical kind",
            reqwest::multipart::Form::new()
                .text("title", "Fake lab")
                .text("type", "lab_report")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(PNG.to_vec())
                        .file_name("a.png")
                        .mime_str("image/png")
                        .unwrap(),
                ),
            400,
            "invalid_kind",
        ),
    ];
    for (name, form, status, code) in cases {
        let (got, body) = post(&world, "patient.a", a, form).await;
        assert_eq!(got, status, "{name}: {body}");
        assert_eq!(body["code"], code, "{name}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name} has a message"
        );
    }
    // Someone else's record: the same 404 as a missing patient, and nothing stored.
    let (got, _) = post(
        &world,
        "patient.b",
        a,
        World::upload_form("Mine now", "a.png", "image/png", PNG.to_vec()),
    )
    .await;
    assert_eq!(got, 404);
    let (got, _) = post(
        &world,
        "reception.x",
        a,
        World::upload_form("Scan", "a.png", "image/png", PNG.to_vec()),
    )
    .await;
    assert_eq!(got, 404, "reception cannot add to the clinical record");

    assert_eq!(
        world.document_count().await,
        docs_before,
        "no document row after any failure"
    );
    assert_eq!(
        world.blob_files().len(),
        blobs_before,
        "no blob after any failure"
    );
}

#[tokio::test]
async fn hostile_filenames_are_sanitised() {
    let world = World::start().await;
    for (given, stored) in [
        ("../../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32.pdf", "system32.pdf"),
        ("a;b=c&d.png", "a_b_c_d.png"),
        ("résumé <script>.png", "r_sum_ _script_.png"),
        (".hidden.png", "hidden.png"),
    ] {
        let (status, body) = post(
            &world,
            "patient.a",
            world.patient_a,
            World::upload_form("Photo", given, "image/png", PNG.to_vec()),
        )
        .await;
        assert_eq!(status, 201, "{given}: {body}");
        assert_eq!(body["filename"], stored, "{given}");
        let login = world.login("patient.a").await;
        let response = world
            .api(
                Method::GET,
                body["content_url"].as_str().unwrap(),
                Some(&login),
            )
            .send()
            .await
            .unwrap();
        let disposition = response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            !disposition.contains('\r')
                && !disposition.contains('/')
                && !disposition.contains(".."),
            "{disposition}"
        );
        Served::read(response).await.assert_marked_copy_of(PNG);
    }
    // A header-splitting filename is refused outright rather than half-parsed.
    let (status, _) = post(
        &world,
        "patient.a",
        world.patient_a,
        World::upload_form(
            "Photo",
            "evil\r\nContent-Type: text/html.png",
            "image/png",
            PNG.to_vec(),
        ),
    )
    .await;
    assert!(status == 201 || status == 400, "{status}");
    let long = format!("{}.png", "a".repeat(10_000));
    let (status, body) = post(
        &world,
        "patient.a",
        world.patient_a,
        World::upload_form("Photo", &long, "image/png", PNG.to_vec()),
    )
    .await;
    assert_eq!(status, 201);
    let name = body["filename"].as_str().unwrap();
    assert!(name.len() <= 100 && name.ends_with(".png"), "{name}");
}

#[tokio::test]
async fn staff_upload_for_their_patient_and_the_patient_reads_it() {
    let world = World::start().await;
    let form = reqwest::multipart::Form::new()
        .text("title", "Referral to cardiology")
        .text("type", "referral_letter")
        .part(
            "file",
            reqwest::multipart::Part::bytes(pdf_with("REFERRAL"))
                .file_name("ref.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let (status, body) = post(&world, "nurse.x", world.patient_b, form).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["kind"], "referral_letter");
    let b = world.login("patient.b").await;
    let list: serde_json::Value = world
        .api(
            Method::GET,
            &format!("/api/v1/patients/{}/documents", world.patient_b),
            Some(&b),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["title"], "Referral to cardiology");
    // Staff of another practice cannot add to this record.
    let (status, _) = post(
        &world,
        "clinician.y",
        world.patient_b,
        World::upload_form("X", "a.png", "image/png", PNG.to_vec()),
    )
    .await;
    assert_eq!(status, 404);
}
