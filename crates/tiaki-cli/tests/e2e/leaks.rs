//! Leak tracing through the real binary: copies served by the running server carry a
//! verifiable reference, and `tiaki leak match` traces leaked files back to the
//! document, patient, practice and the very download (access id, actor, session,
//! time) — also after the PDF was re-saved by another tool with its metadata stripped
//! (`qpdf`), and for PNG and text files. An unrelated file matches nothing; a reference
//! altered by hand is reported as not verifiable; a PDF that cannot be marked safely is
//! served unmarked, with its reference in the headers and the audit log saying why.

use super::api::{Api, NewFile};
use super::files::{self, Rng};
use super::server::{DemoLogin, Logins as _, ServerOptions, demo_copy, run_tiaki};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// A served copy: its bytes and the leak-tracing headers.
struct Copy {
    bytes: Vec<u8>,
    access_id: String,
    reference: String,
    mark: String,
}

async fn fetch(api: &Api, document: &str) -> Copy {
    let response = api
        .http
        .get(format!("{}/api/v1/documents/{document}/content", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    let (access_id, reference, mark) = (
        header("x-tiaki-access-id"),
        header("x-tiaki-reference"),
        header("x-tiaki-mark"),
    );
    let length: usize = header("content-length").parse().unwrap();
    let bytes = response.bytes().await.unwrap().to_vec();
    assert_eq!(bytes.len(), length, "Content-Length is the served length");
    Copy {
        bytes,
        access_id,
        reference,
        mark,
    }
}

fn qpdf(args: &[&str]) -> std::process::Output {
    Command::new("qpdf")
        .args(args)
        .output()
        .expect("qpdf is installed (scripts/test.sh installs it)")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The session id of the API caller's own session.
async fn own_session(api: &Api) -> String {
    let sessions = api.get_json("/api/v1/sessions").await;
    sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn leak_match(data: &Path, dir: &Path) -> Vec<Value> {
    let ran = run_tiaki([
        "leak".as_ref(),
        "match".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        dir.as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(ran.status.success(), "leak match failed: {}", ran.stderr);
    serde_json::from_str::<Value>(&ran.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn result<'a>(results: &'a [Value], file: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["file"] == file)
        .unwrap_or_else(|| panic!("no result for {file}: {results:#?}"))
}

fn how(doc: &Value) -> Vec<String> {
    doc["how"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaked_copies_are_traced_to_their_download() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    demo_copy(&data);
    let logins = DemoLogin::read(&data);
    let server = ServerOptions::new(&data).start();

    // A clinician opens one of a patient's letters (a demo PDF).
    let clinician = logins.iter().find(|l| l.role == "clinician").unwrap();
    let practice = clinician.practice_id.clone().unwrap();
    let staff = Api::login(&server.base, &clinician.username, &clinician.password).await;
    let mut found = None;
    for p in logins.patients_of(&practice) {
        let docs = staff.documents(p.patient()).await;
        if let Some(d) = docs
            .into_iter()
            .find(|d| d.content_type == "application/pdf")
        {
            found = Some((p, d));
            break;
        }
    }
    let (patient, letter) = found.expect("a demo patient with a PDF letter");
    let letter = &letter;
    let served = fetch(&staff, &letter.id).await;
    assert_eq!(served.mark, "marked");
    assert!(served.reference.starts_with("TK1") && served.reference.len() == 42);
    assert!(
        served.bytes.len() as u64 > letter.size_bytes,
        "the mark is appended"
    );
    // The footer names the reader; the reference is drawn (invisibly) on the page.
    assert!(
        contains(&served.bytes, b"(Downloaded by ") && contains(&served.bytes, br"\(clinician\)"),
        "a visible footer naming the reader"
    );
    assert!(contains(&served.bytes, b"3 Tr"), "an invisible text run");
    assert!(contains(&served.bytes, served.reference.as_bytes()));
    let staff_session = own_session(&staff).await;

    let leaked = root.path().join("leaked");
    std::fs::create_dir(&leaked).unwrap();
    std::fs::write(leaked.join("served.pdf"), &served.bytes).unwrap();
    let check = qpdf(&["--check", leaked.join("served.pdf").to_str().unwrap()]);
    assert!(
        check.status.success(),
        "qpdf --check on the served PDF: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // Re-saved by another tool: pages copied into an empty file (so no Info dictionary
    // or XMP), every stream recompressed, objects packed into object streams.
    let stripped = leaked.join("stripped.pdf");
    let resave = qpdf(&[
        "--empty",
        "--pages",
        leaked.join("served.pdf").to_str().unwrap(),
        "--",
        "--recompress-flate",
        "--compress-streams=y",
        "--object-streams=generate",
        stripped.to_str().unwrap(),
    ]);
    assert!(
        resave.status.success(),
        "{}",
        String::from_utf8_lossy(&resave.stderr)
    );
    let stripped_bytes = std::fs::read(&stripped).unwrap();
    assert!(
        !contains(&stripped_bytes, b"TiakiReference"),
        "the Info entry is gone"
    );
    assert!(
        !contains(&stripped_bytes, served.reference.as_bytes()),
        "the reference is no longer in the clear: only a decoded stream holds it"
    );
    assert_ne!(stripped_bytes, served.bytes);

    // A patient's own PNG and text file, uploaded and downloaded again.
    let mut rng = Rng::new(0x1ea5);
    let me = Api::login(&server.base, &patient.username, &patient.password).await;
    let png = files::png(40, 30, &mut rng);
    let text = b"Blood pressure diary\n120/80 Monday\n118/79 Tuesday\n".to_vec();
    let mut ids = Vec::new();
    for (name, mime, bytes) in [
        ("diary.png", "image/png", png.clone()),
        ("diary.txt", "text/plain", text.clone()),
    ] {
        let (status, answer) = me
            .upload(
                patient.patient(),
                NewFile {
                    title: name,
                    kind: None,
                    filename: name,
                    mime,
                    bytes,
                },
            )
            .await
            .unwrap();
        assert_eq!(status, 201, "{answer}");
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    let png_copy = fetch(&me, &ids[0]).await;
    let text_copy = fetch(&me, &ids[1]).await;
    let my_session = own_session(&me).await;
    assert_eq!(png_copy.mark, "marked");
    // Still a valid PNG with the same pixels, carrying the reference in a text chunk.
    let decoded = |bytes: &[u8]| {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()))
            .read_info()
            .unwrap();
        let texts: Vec<String> = reader
            .info()
            .uncompressed_latin1_text
            .iter()
            .map(|t| t.text.clone())
            .collect();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut pixels).unwrap();
        (pixels, texts)
    };
    let (served_pixels, texts) = decoded(&png_copy.bytes);
    assert_eq!(served_pixels, decoded(&png).0);
    assert_eq!(texts, vec![png_copy.reference.clone()]);
    let served_text = String::from_utf8(text_copy.bytes.clone()).unwrap();
    assert!(served_text.starts_with(std::str::from_utf8(&text).unwrap()));
    assert!(served_text.ends_with(&format!("Reference: {}\n", text_copy.reference)));

    std::fs::write(leaked.join("photo.png"), &png_copy.bytes).unwrap();
    std::fs::write(leaked.join("diary.txt"), &text_copy.bytes).unwrap();
    // Something Tiaki never held.
    std::fs::write(
        leaked.join("unrelated.pdf"),
        files::pdf("Nothing to do with Tiaki"),
    )
    .unwrap();
    std::fs::write(leaked.join("noise.bin"), {
        let mut b = vec![0u8; 4096];
        rng.fill(&mut b);
        b
    })
    .unwrap();
    // The served PDF with its reference altered by hand (same length, so the file is
    // still well-formed): a made-up reference must not name anyone.
    let body = &served.reference[3..];
    let swapped: String = body
        .char_indices()
        .map(|(i, c)| {
            if i == 5 {
                if c == 'a' { 'b' } else { 'a' }
            } else {
                c
            }
        })
        .collect();
    let forged_ref = format!("TK1{swapped}");
    let mut forged = served.bytes.clone();
    let reference = served.reference.as_bytes();
    let mut replaced = 0;
    for at in 0..forged.len().saturating_sub(reference.len()) {
        if &forged[at..at + reference.len()] == reference {
            forged[at..at + reference.len()].copy_from_slice(forged_ref.as_bytes());
            replaced += 1;
        }
    }
    assert!(replaced >= 2, "the reference is drawn on the page");
    std::fs::write(leaked.join("forged.pdf"), &forged).unwrap();

    let results = leak_match(&data, &leaked);
    assert_eq!(results.len(), 7, "{results:#?}");

    // The served PDF and the stripped copy: the clinician's download, by its mark.
    for (file, expect_whole_file) in [("served.pdf", true), ("stripped.pdf", false)] {
        let r = result(&results, file);
        assert_eq!(r["result"], "matched", "{r:#}");
        let mark = &r["marks"][0];
        assert_eq!(mark["reference"], served.reference.as_str(), "{file}");
        assert_eq!(mark["verified"], true, "{file}");
        let access = &mark["access"];
        assert_eq!(access["access_id"], served.access_id.as_str(), "{file}");
        assert_eq!(access["role"], "clinician");
        assert_eq!(access["session"], staff_session.as_str());
        assert_eq!(access["action"], "document.read");
        assert!(access["at"].is_string());
        let docs = r["documents"].as_array().unwrap();
        assert_eq!(docs.len(), 1, "{file}: {docs:#?}");
        assert_eq!(docs[0]["document"], letter.id.as_str());
        assert_eq!(docs[0]["patient"], patient.patient());
        assert_eq!(docs[0]["practice"], practice.as_str());
        assert_eq!(
            docs[0]["practice_name"],
            clinician.practice.clone().unwrap().as_str()
        );
        let how = how(&docs[0]);
        assert!(how.contains(&"mark".to_owned()), "{file}: {how:?}");
        assert!(how.contains(&"stream".to_owned()), "{file}: {how:?}");
        assert_eq!(
            how.contains(&"whole_file".to_owned()),
            expect_whole_file,
            "{file}: {how:?}"
        );
    }

    // The PNG and the text file: the patient's own downloads.
    for (file, copy, id, extra) in [
        ("photo.png", &png_copy, &ids[0], Some("pixels")),
        ("diary.txt", &text_copy, &ids[1], None),
    ] {
        let r = result(&results, file);
        assert_eq!(r["result"], "matched", "{r:#}");
        let access = &r["marks"][0]["access"];
        assert_eq!(r["marks"][0]["verified"], true);
        assert_eq!(access["access_id"], copy.access_id.as_str());
        assert_eq!(access["role"], "patient");
        assert_eq!(access["session"], my_session.as_str());
        let doc = &r["documents"][0];
        assert_eq!(doc["document"], id.as_str());
        assert_eq!(doc["patient"], patient.patient());
        let how = how(doc);
        assert!(how.contains(&"mark".to_owned()) && how.contains(&"whole_file".to_owned()));
        if let Some(extra) = extra {
            assert!(how.contains(&extra.to_owned()), "{how:?}");
        }
    }

    for file in ["unrelated.pdf", "noise.bin"] {
        let r = result(&results, file);
        assert_eq!(r["result"], "unmatched", "{r:#}");
        assert!(r["documents"].as_array().unwrap().is_empty());
        assert!(r["marks"].as_array().unwrap().is_empty());
    }

    // The forged reference names nobody; the content still matches the document.
    let r = result(&results, "forged.pdf");
    let marks = r["marks"].as_array().unwrap();
    assert_eq!(marks.len(), 1, "{marks:#?}");
    assert_eq!(marks[0]["reference"], forged_ref.as_str());
    assert_eq!(marks[0]["verified"], false);
    assert!(marks[0]["access"].is_null());
    let docs = r["documents"].as_array().unwrap();
    assert_eq!(docs[0]["document"], letter.id.as_str());
    assert!(!how(&docs[0]).contains(&"mark".to_owned()));

    // The table says the same for people.
    let ran = run_tiaki([
        "leak".as_ref(),
        "match".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        leaked.as_os_str(),
    ]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let line = |file: &str| {
        ran.stdout
            .lines()
            .find(|l| l.starts_with(file))
            .unwrap_or_else(|| panic!("no line for {file}:\n{}", ran.stdout))
            .to_owned()
    };
    assert!(line("stripped.pdf").contains(&served.access_id));
    assert!(line("stripped.pdf").contains(&staff_session));
    assert!(line("unrelated.pdf").contains("unmatched"));
    assert!(
        ran.stdout
            .contains(&format!("reference {forged_ref} not verifiable"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_that_cannot_be_marked_is_served_unmarked_and_the_audit_log_says_why() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    demo_copy(&data);
    let logins = DemoLogin::read(&data);
    let server = ServerOptions::new(&data).start();
    let patient = logins.patients()[0];
    let me = Api::login(&server.base, &patient.username, &patient.password).await;

    // A PDF whose cross-reference offset points nowhere: readers repair it, but an
    // incremental update on top of it would not be safe.
    let mut damaged = files::pdf("A scanned referral");
    let at = damaged.windows(9).rposition(|w| w == b"startxref").unwrap();
    damaged.truncate(at);
    damaged.extend_from_slice(b"startxref\n7\n%%EOF\n");
    let (status, answer) = me
        .upload(
            patient.patient(),
            NewFile {
                title: "Referral",
                kind: None,
                filename: "referral.pdf",
                mime: "application/pdf",
                bytes: damaged.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let copy = fetch(&me, &id).await;
    assert_eq!(copy.mark, "unmarked");
    assert_eq!(copy.bytes, damaged, "served exactly as stored");
    assert!(copy.reference.starts_with("TK1"));

    // The log records that this access went out unmarked, and why.
    let export = root.path().join("audit.jsonl");
    let ran = run_tiaki([
        "audit".as_ref(),
        "export".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--out".as_ref(),
        export.as_os_str(),
    ]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let log = std::fs::read_to_string(&export).unwrap();
    let unmarked: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("document.unmarked"))
        .collect();
    assert_eq!(unmarked.len(), 1, "{unmarked:#?}");
    assert!(unmarked[0].contains(&format!("pdf_damaged:{}", copy.access_id)));
    assert!(unmarked[0].contains(&id));

    // It is still traced, by its content: whole file and page stream.
    let leaked = root.path().join("leaked");
    std::fs::create_dir(&leaked).unwrap();
    std::fs::write(leaked.join("referral.pdf"), &copy.bytes).unwrap();
    let results = leak_match(&data, &leaked);
    let r = result(&results, "referral.pdf");
    assert_eq!(r["result"], "matched");
    let how = how(&r["documents"][0]);
    assert_eq!(how, vec!["whole_file".to_owned(), "stream".to_owned()]);

    // Every document — the seeded demo and this upload — was fingerprinted at upload.
    let ran = run_tiaki([
        "leak".as_ref(),
        "index".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let summary = ran.stderr.lines().next().unwrap();
    let (done, rest) = summary.split_once(" of ").unwrap();
    let total = rest.split_whitespace().next().unwrap();
    assert_eq!(done, total, "{summary}");
    assert!(total.parse::<u32>().unwrap() > 100, "{summary}");
    assert!(
        ran.stdout.trim().is_empty(),
        "nothing left to index: {}",
        ran.stdout
    );
}
