//! A 200 MiB document streams in and out with flat server memory, and only ciphertext
//! reaches the disk.

use super::api::Api;
use super::files::{self, Rng};
use super::server::{Logins as _, ServerOptions, demo_copy, files_under};
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;
const TOTAL: u64 = 200 * MIB;
const PIECE: usize = 256 * 1024;
/// How far above its resting size the server may grow while handling the file.
const ALLOWED_GROWTH: u64 = 150 * MIB;

/// `VmRSS` and `VmHWM` of a process, in bytes.
fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Samples a process's resident size until stopped; gives the largest seen.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                if let Some((rss, _)) = memory(pid) {
                    p.fetch_max(rss, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Self {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.peak.load(Ordering::SeqCst)
    }
}

/// One 256 KiB piece of the document: printable text with the marker on many lines
/// and the piece's number at its start, so no two pieces are alike.
fn piece(template: &[u8], index: u64) -> Bytes {
    let mut out = BytesMut::from(template);
    let label = format!("{index:08}");
    // After the marker at the very start, which keeps the file's first bytes text.
    out[100..108].copy_from_slice(label.as_bytes());
    out.freeze()
}

/// Whether `needle` occurs in the file, read in bounded pieces.
fn file_contains(path: &Path, needle: &[u8]) -> bool {
    use std::io::Read as _;
    let finder = memchr::memmem::Finder::new(needle);
    let mut file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 8 * 1024 * 1024];
    let mut kept = 0;
    loop {
        let read = file.read(&mut buf[kept..]).unwrap();
        if read == 0 {
            return false;
        }
        let filled = kept + read;
        if finder.find(&buf[..filled]).is_some() {
            return true;
        }
        // Keep a tail in case the needle straddles two reads.
        kept = (needle.len() - 1).min(filled);
        buf.copy_within(filled - kept..filled, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mib_document_streams_with_flat_memory_and_only_ciphertext_on_disk() {
    let started = Instant::now();
    let mut rng = Rng::from_env("TIAKI_E2E_SEED");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo_copy(&data);
    let server = ServerOptions::new(&data)
        .arg("--max-upload-bytes")
        .arg("262144000")
        .start();
    let logins = server.logins();
    let patient = logins.patients()[7].clone();
    let api = Api::login(&server.base, &patient.username, &patient.password).await;
    api.documents(patient.patient()).await;
    let pid = server.pid();
    let (rest_rss, rest_hwm) = memory(pid).unwrap();

    let marker = format!(
        "TIAKI-PLAINTEXT-MARKER-{}-this-line-must-never-reach-the-disk-in-the-clear",
        files::nonce(&mut rng)
    );
    let mut template = files::text(PIECE, &mut rng);
    for at in (0..PIECE - marker.len() - 1).step_by(4096) {
        template[at..at + marker.len()].copy_from_slice(marker.as_bytes());
        template[at + marker.len()] = b'\n';
    }
    let template = Bytes::from(template);
    let pieces = TOTAL / PIECE as u64;
    let sent_hash = Arc::new(Mutex::new(Sha256::new()));
    let hasher = sent_hash.clone();
    let body = futures::stream::iter(0..pieces).map(move |i| {
        let p = piece(&template, i);
        hasher.lock().unwrap().update(&p);
        Ok::<Bytes, std::io::Error>(p)
    });
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(body), TOTAL)
            .file_name("scan-archive.txt")
            .mime_str("text/plain")
            .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("title", "Two hundred MiB of notes")
        .part("file", part);

    let sampler = Sampler::start(pid);
    let upload_started = Instant::now();
    let (status, answer) = api.upload_form(patient.patient(), form).await.unwrap();
    let upload_took = upload_started.elapsed();
    let upload_peak = sampler.finish();
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["size_bytes"].as_u64(), Some(TOTAL));
    let sent = files::hex(&sent_hash.lock().unwrap().clone().finalize());
    let document = answer["id"].as_str().unwrap().to_owned();

    let sampler = Sampler::start(pid);
    let download_started = Instant::now();
    let response = api
        .http
        .get(format!("{}/api/v1/documents/{document}/content", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Too large to mark in memory: it streams out as it came in, and says so.
    assert_eq!(response.headers()["x-tiaki-mark"], "unmarked");
    let mut stream = response.bytes_stream();
    let mut received = Sha256::new();
    let mut length = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        length += chunk.len() as u64;
        received.update(&chunk);
    }
    let download_took = download_started.elapsed();
    let download_peak = sampler.finish();
    let (_, final_hwm) = memory(pid).unwrap();
    assert_eq!(length, TOTAL);
    assert_eq!(
        files::hex(&received.finalize()),
        sent,
        "the download differs"
    );

    // Growth over the resting size (not the resting high-water mark, which already
    // holds the sign-in's password hash), up to the highest point seen by sampling or
    // recorded by the kernel.
    let peak = upload_peak.max(download_peak).max(final_hwm);
    let growth = peak.saturating_sub(rest_rss);
    let mib = |b: u64| b as f64 / MIB as f64;
    println!(
        "200 MiB: upload {upload_took:?} ({:.0} MiB/s), download {download_took:?} ({:.0} MiB/s); \
         server RSS at rest {:.1} MiB (high-water {:.1}), peak RSS during upload {:.1} MiB, \
         during download {:.1} MiB, high-water after {:.1} MiB: growth {:.1} MiB",
        200.0 / upload_took.as_secs_f64(),
        200.0 / download_took.as_secs_f64(),
        mib(rest_rss),
        mib(rest_hwm),
        mib(upload_peak),
        mib(download_peak),
        mib(final_hwm),
        mib(growth),
    );
    assert!(
        growth < ALLOWED_GROWTH,
        "the server grew by {:.1} MiB handling a 200 MiB file: it is buffering",
        mib(growth)
    );

    // Only ciphertext at rest: the marker is in no blob, nor the database, nor the log.
    let blob = data.join("blobs").join("documents").join(&document);
    let blob_size = std::fs::metadata(&blob).unwrap().len();
    assert!(blob_size > TOTAL, "the blob is smaller than the document");
    let mut scanned = 0;
    for file in files_under(&data) {
        assert!(
            !file_contains(&file, marker.as_bytes()),
            "{} holds plaintext of the document",
            file.display()
        );
        scanned += 1;
    }
    assert!(
        !server.stderr().contains(&marker),
        "the server log holds document text"
    );
    println!(
        "scanned {scanned} files under the data directory; total time {:?}",
        started.elapsed()
    );
}
