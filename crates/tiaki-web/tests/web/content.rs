//! What a reader receives, and what the disk holds.

use super::harness::{Backend, World};
use reqwest::Method;
use tiaki_core::leaks::marks::originals;
use tiaki_core::leaks::reference::Reference;

/// A copy of a document as served: its bytes and its leak-tracing headers.
#[derive(Debug)]
pub struct Served {
    pub bytes: Vec<u8>,
    /// `x-tiaki-mark`: `marked` or `unmarked`.
    pub mark: String,
    /// `x-tiaki-reference`: the reference the copy carries (or would have carried).
    pub reference: String,
    /// `x-tiaki-access-id`: the audit receipt of this read.
    pub access_id: String,
}

impl Served {
    /// Reads a successful content response.
    pub async fn read(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        let header = |name: &str| {
            response.headers()[name]
                .to_str()
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .to_owned()
        };
        let (mark, reference, access_id) = (
            header("x-tiaki-mark"),
            header("x-tiaki-reference"),
            header("x-tiaki-access-id"),
        );
        let length: usize = header("content-length").parse().unwrap();
        let bytes = response.bytes().await.unwrap().to_vec();
        assert_eq!(bytes.len(), length, "Content-Length is the served length");
        Self {
            bytes,
            mark,
            reference,
            access_id,
        }
    }

    /// The copy is exactly `original` plus one mark of ours, and the mark carries this
    /// read's reference, which names this read's receipt.
    pub fn assert_marked_copy_of(&self, original: &[u8]) {
        assert_eq!(self.mark, "marked", "x-tiaki-mark");
        let reference = Reference::parse(&self.reference)
            .unwrap_or_else(|| panic!("not a reference: {:?}", self.reference));
        assert_eq!(
            reference.access_id.to_string(),
            self.access_id,
            "the reference names this read's receipt"
        );
        assert_eq!(
            Reference::find_all(&self.bytes),
            vec![self.reference.clone()],
            "the copy carries this read's reference and no other"
        );
        let unmarked = originals(&self.bytes);
        assert!(
            unmarked.iter().any(|o| o.as_slice() == original),
            "the copy is not the original plus a mark ({} bytes served, {} uploaded, {} \
             candidate originals of lengths {:?})",
            self.bytes.len(),
            original.len(),
            unmarked.len(),
            unmarked.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }

    /// The copy went out unmarked, and is exactly `original`.
    pub fn assert_unmarked_copy_of(&self, original: &[u8]) {
        assert_eq!(self.mark, "unmarked", "x-tiaki-mark");
        assert!(
            Reference::parse(&self.reference).is_some(),
            "an unmarked copy still has its reference in the headers: {:?}",
            self.reference
        );
        assert!(
            self.bytes == original,
            "an unmarked copy is the original, byte for byte ({} bytes served, {} uploaded)",
            self.bytes.len(),
            original.len()
        );
    }
}

#[tokio::test]
async fn content_is_served_with_protective_headers_and_a_receipt() {
    let world = World::start().await;
    let a = world.login("patient.a").await;
    let path = format!("/api/v1/documents/{}/content", world.doc_a.id);
    let response = world
        .api(Method::GET, &path, Some(&a))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers().clone();
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-type"], "application/pdf");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script"),
        "{csp}"
    );
    let disposition = h["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"letter.pdf\""),
        "{disposition}"
    );
    let access_id = h["x-tiaki-access-id"].to_str().unwrap().to_owned();
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with(b"%PDF-1.4") && body.windows(8).any(|w| w == b"A-SECRET"));
    // The receipt's id names a real, allowed audit event for this document.
    let events = world
        .store
        .audit_events_of_patient(world.patient_a, 100)
        .await
        .unwrap();
    let event = events
        .iter()
        .map(|(_, e)| e)
        .find(|e| e.id.to_string() == access_id)
        .expect("receipt event");
    assert_eq!(event.document, Some(world.doc_a.id));
    assert_eq!(event.action, "document.read");
    assert_eq!(event.bytes, Some(world.doc_a.size_bytes));

    // Pages view inline.
    let page = world
        .page(
            Method::GET,
            &format!("/documents/{}/content", world.doc_a.id),
            Some(&a),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
}

#[tokio::test]
async fn stored_blobs_never_contain_plaintext() {
    let world = World::start().await;
    let a = world.login("patient.a").await;
    let marker = "PLAINTEXT-MARKER-7f3a";
    let text = marker.repeat(20_000).into_bytes();
    let form = World::upload_form("Notes", "notes.txt", "text/plain", text);
    let path = format!("/api/v1/patients/{}/documents", world.patient_a);
    let response = world
        .api(Method::POST, &path, Some(&a))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let blobs = world.blob_files();
    assert!(blobs.len() >= 3, "three documents were stored");
    for (path, bytes) in &blobs {
        for needle in [
            marker.as_bytes(),
            b"A-SECRET".as_slice(),
            b"C-SECRET".as_slice(),
            b"%PDF".as_slice(),
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds plaintext",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn swapped_ciphertexts_do_not_decrypt() {
    let world = World::start().await;
    let a = world.login("patient.a").await;
    let c = world.login("patient.c").await;
    // Put C's ciphertext where A's document points.
    let blob = |id: tiaki_domain::DocumentId| {
        world
            .blob_files()
            .into_iter()
            .find(|(p, _)| p.to_string_lossy().ends_with(&id.to_string()))
            .unwrap()
    };
    let (path_a, _) = blob(world.doc_a.id);
    let (_, bytes_c) = blob(world.doc_c.id);
    std::fs::write(&path_a, bytes_c).unwrap();
    let response = world
        .api(
            Method::GET,
            &format!("/api/v1/documents/{}/content", world.doc_a.id),
            Some(&a),
        )
        .send()
        .await
        .unwrap();
    // The first chunk fails to authenticate before any header is sent: a clear 503.
    assert_eq!(
        response.status(),
        503,
        "a swapped ciphertext must never decrypt"
    );
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("C-SECRET") && !body.contains("%PDF"),
        "{body}"
    );
    // C's own document still reads.
    let own = world
        .api(
            Method::GET,
            &format!("/api/v1/documents/{}/content", world.doc_c.id),
            Some(&c),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
}

#[tokio::test]
async fn the_whole_read_path_runs_on_postgres_and_s3() {
    let world = World::start_with(Backend::PostgresS3, Default::default()).await;
    let a = world.login("patient.a").await;
    let bytes = b"%PDF-1.4\nkept in S3\n".repeat(10_000);
    let form = World::upload_form("Big letter", "big.pdf", "application/pdf", bytes.clone());
    let response = world
        .api(
            Method::POST,
            &format!("/api/v1/patients/{}/documents", world.patient_a),
            Some(&a),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: serde_json::Value = response.json().await.unwrap();
    let content = world
        .api(
            Method::GET,
            created["content_url"].as_str().unwrap(),
            Some(&a),
        )
        .send()
        .await
        .unwrap();
    // Not a PDF with pages, so it cannot carry a footer: it goes out as it came in.
    Served::read(content)
        .await
        .assert_unmarked_copy_of(bytes.as_slice());
    let seeded = world
        .api(
            Method::GET,
            &format!("/api/v1/documents/{}/content", world.doc_a.id),
            Some(&a),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.status(), 200);
    let b = world.login("patient.b").await;
    let foreign = world
        .api(
            Method::GET,
            &format!("/api/v1/documents/{}/content", world.doc_a.id),
            Some(&b),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
}
