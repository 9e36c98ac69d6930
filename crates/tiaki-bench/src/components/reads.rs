//! The read path's other steps, timed one by one: database round trips, rows, the blob
//! read, key unwrapping and decryption, and the whole `open_document`.

use super::{Line, RECEIPTS, doc, line};
use crate::world::{SeededDoc, USERNAME, World};
use crate::{Result, fail};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use secrecy::ExposeSecret;
use std::time::{Duration, Instant};
use tiaki_audit::{AuditLog, Receipt, RequestContext};
use tiaki_core::auth::SecondFactor;
use tiaki_crypto::{DocumentContext, open_stream};
use tiaki_domain::{Action, Target, authorize};
use tiaki_store::{DocumentRecord, WrappedPatientKey};

/// One round trip to the database that does nothing (`SELECT 1`): the fixed cost every
/// query on the read path pays before SQL does any work.
pub(super) async fn ping(world: &World, n: usize) -> Result<Line> {
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        world.store.ping().await?;
        samples.push(t.elapsed());
    }
    Ok(line(
        "database round trip, SELECT 1 (store.ping)",
        samples,
        start.elapsed(),
        1,
        "fixed cost per query",
    ))
}

pub(super) async fn authenticate(world: &World, n: usize) -> Result<Line> {
    let factor = SecondFactor::RecoveryCode(world.recovery_code()?);
    let session = world
        .core
        .login(
            USERNAME,
            &world.password,
            Some(&factor),
            &RequestContext::default(),
            None,
        )
        .await?;
    let token = session.token.expose_secret().to_owned();
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        world.core.authenticate(&token).await?;
        samples.push(t.elapsed());
    }
    Ok(line(
        "authenticate bearer token",
        samples,
        start.elapsed(),
        1,
        "SHA-256, session row, account row",
    ))
}

pub(super) async fn document_rows(world: &World, n: usize) -> Result<Line> {
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let id = doc(world, i * 7919)?.id;
        let t = Instant::now();
        world.store.document(id).await?;
        samples.push(t.elapsed());
    }
    Ok(line(
        "document row (metadata + wrapped key)",
        samples,
        start.elapsed(),
        1,
        "",
    ))
}

pub(super) async fn patient_keys(world: &World, n: usize) -> Result<Line> {
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let patient = doc(world, i * 7919)?.patient;
        let t = Instant::now();
        world.store.patient_key(patient).await?;
        samples.push(t.elapsed());
    }
    Ok(line("patient key row", samples, start.elapsed(), 1, ""))
}

async fn record(world: &World, d: &SeededDoc) -> Result<DocumentRecord> {
    world
        .store
        .document(d.id)
        .await?
        .ok_or_else(|| fail("seeded document missing"))
}

pub(super) async fn blob_reads(world: &World, n: usize) -> Result<Line> {
    let mut keys = Vec::new();
    for d in world.docs.iter().take(RECEIPTS) {
        keys.push(record(world, d).await?.blob_key);
    }
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let key = keys
            .get(i % keys.len().max(1))
            .ok_or_else(|| fail("no blob keys"))?;
        let t = Instant::now();
        let pieces: Vec<Bytes> = world
            .core
            .blobs()
            .get_stream(key)
            .await?
            .try_collect()
            .await?;
        samples.push(t.elapsed());
        std::hint::black_box(pieces);
    }
    Ok(line(
        "blob read, 64 KiB ciphertext (local dir, page cache)",
        samples,
        start.elapsed(),
        1,
        "object_store LocalFileSystem",
    ))
}

/// The same blobs through object_store, read whole (`GetResult::bytes`: one
/// blocking-pool hop) instead of streamed (`into_stream`: one hop per 8 KiB).
pub(super) async fn blob_reads_whole(world: &World, n: usize) -> Result<Line> {
    use object_store::ObjectStoreExt as _;
    let fs = object_store::local::LocalFileSystem::new_with_prefix(world.dir.path().join("blobs"))?;
    let mut paths = Vec::new();
    for d in world.docs.iter().take(RECEIPTS) {
        paths.push(object_store::path::Path::parse(
            record(world, d).await?.blob_key,
        )?);
    }
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let path = paths
            .get(i % paths.len().max(1))
            .ok_or_else(|| fail("no blob paths"))?;
        let t = Instant::now();
        let bytes = fs.get(path).await?.bytes().await?;
        samples.push(t.elapsed());
        std::hint::black_box(bytes);
    }
    Ok(line(
        "blob read, same files, object_store get + bytes()",
        samples,
        start.elapsed(),
        1,
        "whole object in one blocking-pool hop",
    ))
}

/// The same blobs read with one `tokio::fs::read` each (for comparison with the
/// object_store path the server uses).
pub(super) async fn blob_reads_direct(world: &World, n: usize) -> Result<Line> {
    let mut paths = Vec::new();
    for d in world.docs.iter().take(RECEIPTS) {
        paths.push(
            world
                .dir
                .path()
                .join("blobs")
                .join(record(world, d).await?.blob_key),
        );
    }
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let path = paths
            .get(i % paths.len().max(1))
            .ok_or_else(|| fail("no blob paths"))?;
        let t = Instant::now();
        let bytes = tokio::fs::read(path).await?;
        samples.push(t.elapsed());
        std::hint::black_box(bytes);
    }
    Ok(line(
        "blob read, same files, one tokio::fs::read",
        samples,
        start.elapsed(),
        1,
        "for comparison: what the local store could cost",
    ))
}

/// A document ready to open: its receipt (from a durable append), keys and ciphertext.
#[derive(Debug)]
struct Openable {
    receipt: Receipt,
    patient_key: WrappedPatientKey,
    record: DocumentRecord,
    ctx: DocumentContext,
    ciphertext: Bytes,
}

async fn openables(world: &World) -> Result<Vec<Openable>> {
    let log = AuditLog::new(world.store.clone());
    let mut out = Vec::with_capacity(RECEIPTS);
    for d in world.docs.iter().take(RECEIPTS) {
        let target = Target::Document {
            document: d.id,
            patient: d.patient,
            practice: d.practice,
        };
        let grant = authorize(&world.clinician, Action::ReadDocumentContent, target)
            .map_err(|e| fail(format!("policy refused the clinician: {}", e.as_str())))?;
        let rec = record(world, d).await?;
        let receipt = log
            .record(
                &grant,
                &RequestContext::default(),
                Some(rec.meta.size_bytes),
            )
            .await?;
        let patient_key = world
            .store
            .patient_key(d.patient)
            .await?
            .ok_or_else(|| fail("patient key missing"))?;
        let pieces: Vec<Bytes> = world
            .core
            .blobs()
            .get_stream(&rec.blob_key)
            .await?
            .try_collect()
            .await?;
        out.push(Openable {
            receipt,
            patient_key,
            ctx: DocumentContext {
                document: d.id,
                patient: d.patient,
                practice: d.practice,
            },
            record: rec,
            ciphertext: Bytes::from(pieces.concat()),
        });
    }
    Ok(out)
}

pub(super) async fn unwrap_and_decrypt(world: &World, n: usize) -> Result<Vec<Line>> {
    let docs = openables(world).await?;
    let vault = world.core.vault();
    let pick = |i: usize| {
        docs.get(i % docs.len().max(1))
            .ok_or_else(|| fail("no openable documents"))
    };

    let mut unwrap = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let o = pick(i)?;
        let t = Instant::now();
        let opener = vault.open_document(&o.receipt, &o.patient_key, &o.record.data_key, &o.ctx)?;
        unwrap.push(t.elapsed());
        std::hint::black_box(opener);
    }
    let unwrap_wall = start.elapsed();

    let mut both = Vec::with_capacity(n);
    let mut bytes = 0usize;
    let start = Instant::now();
    for i in 0..n {
        let o = pick(i)?;
        let t = Instant::now();
        let opener = vault.open_document(&o.receipt, &o.patient_key, &o.record.data_key, &o.ctx)?;
        let input = futures::stream::iter([Ok::<_, std::io::Error>(o.ciphertext.clone())]);
        let plain: Vec<Bytes> = open_stream(opener, input).try_collect().await?;
        both.push(t.elapsed());
        bytes += plain.iter().map(Bytes::len).sum::<usize>();
    }
    let both_wall = start.elapsed();
    let unwrap_line = line(
        "unwrap patient key + data key (2 × AES-GCM)",
        unwrap,
        unwrap_wall,
        1,
        "vault.open_document, receipt checked",
    );
    let mut decrypt_line = line(
        "unwrap + decrypt 64 KiB (AES-256-GCM)",
        both,
        both_wall,
        1,
        "",
    );
    decrypt_line.note = format!(
        "{:.0} MiB/s of plaintext on one core",
        bytes as f64 / both_wall.as_secs_f64().max(1e-9) / 1024.0 / 1024.0
    );
    Ok(vec![unwrap_line, decrypt_line])
}

async fn open_one(world: &World, i: usize) -> Result<Duration> {
    let d = doc(world, i * 7919)?;
    let ctx = RequestContext {
        address: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        purpose: None,
    };
    let t = Instant::now();
    let opened = world
        .core
        .open_document(&world.clinician, d.id, &ctx)
        .await?;
    let plain: Vec<Bytes> = opened.content.try_collect().await?;
    let elapsed = t.elapsed();
    std::hint::black_box(plain);
    Ok(elapsed)
}

pub(super) async fn open_sequential(world: &World, n: usize) -> Result<Line> {
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        samples.push(open_one(world, i).await?);
    }
    Ok(line(
        "core.open_document + drain, sequential",
        samples,
        start.elapsed(),
        1,
        "the whole read minus HTTP and authentication",
    ))
}

pub(super) async fn open_concurrent(world: &World, n: usize, c: usize) -> Result<Line> {
    let start = Instant::now();
    let samples: Vec<Duration> = futures::stream::iter(0..n)
        .map(|i| open_one(world, i))
        .buffer_unordered(c)
        .try_collect()
        .await?;
    Ok(line(
        &format!("core.open_document + drain, {c} in flight"),
        samples,
        start.elapsed(),
        1,
        "one task; I/O overlaps, CPU work does not spread over cores",
    ))
}
