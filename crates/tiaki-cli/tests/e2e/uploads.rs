//! Upload sizes around the server's 512-byte type sniff, through the API: every size
//! is stored and reads back exactly (under the download mark every served copy carries),
//! and the server keeps running. [`read_back`] is how the other themes read a document
//! back.

use super::api::{Api, NewFile};
use super::files::{self, Rng};
use super::server::{Logins as _, ServerOptions, demo_copy};
use tiaki_core::leaks::marks::originals;
use tiaki_core::leaks::reference::Reference;

/// A document's content as served: status, bytes and the leak-tracing headers.
pub(super) struct ReadBack {
    pub status: u16,
    pub bytes: Vec<u8>,
    /// `x-tiaki-mark`: `marked` or `unmarked` (empty if absent).
    pub mark: String,
    /// `x-tiaki-reference` (empty if absent).
    pub reference: String,
    /// `x-tiaki-access-id` (empty if absent).
    pub access_id: String,
}

/// Reads a document's content through the API, headers and all.
pub(super) async fn read_back(api: &Api, document: &str) -> ReadBack {
    let response = api
        .http
        .get(format!("{}/api/v1/documents/{document}/content", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (mark, reference, access_id) = (
        header("x-tiaki-mark"),
        header("x-tiaki-reference"),
        header("x-tiaki-access-id"),
    );
    let length = header("content-length");
    let bytes = response.bytes().await.unwrap().to_vec();
    if status == 200 {
        assert_eq!(
            length,
            bytes.len().to_string(),
            "document {document}: Content-Length is the served length"
        );
    }
    ReadBack {
        status,
        bytes,
        mark,
        reference,
        access_id,
    }
}

impl ReadBack {
    /// What was uploaded, as far as the copy can tell: for a marked copy, the
    /// candidates left once our mark is taken off (a text mark may have added a final
    /// newline, so there can be two); for an unmarked one, the bytes as they are.
    /// Panics unless the copy is well-formed: a marked copy carries exactly this read's
    /// reference, which names this read's receipt, and does come apart into an original.
    pub fn originals(&self, document: &str) -> Vec<Vec<u8>> {
        assert_eq!(self.status, 200, "document {document} does not read");
        let reference = Reference::parse(&self.reference).unwrap_or_else(|| {
            panic!("document {document}: not a reference: {:?}", self.reference)
        });
        assert_eq!(
            reference.access_id.to_string(),
            self.access_id,
            "document {document}: the reference names this read's receipt"
        );
        match self.mark.as_str() {
            "marked" => {
                assert_eq!(
                    Reference::find_all(&self.bytes),
                    vec![self.reference.clone()],
                    "document {document}: the copy carries this read's reference and no other"
                );
                let found = originals(&self.bytes);
                assert!(
                    !found.is_empty(),
                    "document {document}: said to be marked, but carries no mark of ours"
                );
                found
            }
            "unmarked" => vec![self.bytes.clone()],
            other => panic!("document {document}: x-tiaki-mark is {other:?}"),
        }
    }

    /// Whether the copy is `original` plus a mark of ours.
    pub fn is_marked_copy_of(&self, document: &str, original: &[u8]) -> bool {
        self.mark == "marked"
            && self
                .originals(document)
                .iter()
                .any(|o| o.as_slice() == original)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_every_size_around_the_type_sniff_are_stored() {
    let mut rng = Rng::from_env("TIAKI_E2E_SEED");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo_copy(&data);
    let mut server = ServerOptions::new(&data).start();
    let logins = server.logins();
    let patient = logins.patients()[11].clone();
    let api = Api::login(&server.base, &patient.username, &patient.password).await;

    let mut failures = Vec::new();
    for size in [1usize, 12, 100, 511, 512, 513, 4096, 65536, 65537] {
        let bytes = files::text(size, &mut rng);
        let title = format!("Note of {size} bytes");
        let file = NewFile {
            title: &title,
            kind: None,
            filename: "note.txt",
            mime: "text/plain",
            bytes: bytes.clone(),
        };
        match api.upload(patient.patient(), file).await {
            Ok((201, body)) => {
                let id = body["id"].as_str().unwrap();
                let back = read_back(&api, id).await;
                if back.status != 200 || !back.is_marked_copy_of(id, &bytes) {
                    failures.push(format!(
                        "{size} bytes: read back {}, {} bytes, {}",
                        back.status,
                        back.bytes.len(),
                        back.mark
                    ));
                }
            }
            Ok((status, body)) => failures.push(format!("{size} bytes: {status} {body}")),
            Err(e) => failures.push(format!("{size} bytes: no answer ({e})")),
        }
    }
    let log = server.stderr();
    let panicked = log.contains("panicked");
    assert!(server.is_running(), "the server died");
    server.kill();
    assert!(
        failures.is_empty() && !panicked,
        "uploads failed:\n{}\n{}",
        failures.join("\n"),
        if panicked {
            log.lines()
                .filter(|l| l.contains("panicked") || l.contains("Unfold"))
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            String::new()
        }
    );
}
