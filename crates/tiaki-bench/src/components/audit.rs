//! The durable audit append, timed: the disk's fsync floor, one event per commit, a
//! batch per commit, and `AuditLog::record` through its sequencer.

use super::{BATCH, Line, doc, line};
use crate::world::{SeededDoc, World};
use crate::{Result, fail};
use std::io::Write;
use std::time::Instant;
use tiaki_audit::{AuditEvent, AuditLog, Outcome, RequestContext};
use tiaki_domain::{Action, Target, authorize};

/// A read event like the one W1 appends.
fn read_event(world: &World, d: &SeededDoc) -> AuditEvent {
    let target = Target::Document {
        document: d.id,
        patient: d.patient,
        practice: d.practice,
    };
    let ctx = RequestContext {
        address: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        purpose: None,
    };
    AuditEvent::new(
        Some(&world.clinician),
        Action::ReadDocumentContent,
        Some(&target),
        Outcome::Allowed,
        &ctx,
    )
}

/// The floor under any durable commit on this disk: append 512 bytes, `fdatasync`.
pub(super) async fn fsync_floor(world: &World, n: usize) -> Result<Line> {
    let path = world.dir.path().join("fsync-probe");
    let (samples, wall) = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut file = std::fs::File::create(&path)?;
        let block = [0x5au8; 512];
        let mut samples = Vec::with_capacity(n);
        let start = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            file.write_all(&block)?;
            file.sync_data()?;
            samples.push(t.elapsed());
        }
        Ok((samples, start.elapsed()))
    })
    .await??;
    Ok(line(
        "disk: write 512 B + fdatasync",
        samples,
        wall,
        1,
        "the floor under every durable commit",
    ))
}

pub(super) async fn append_sequential(world: &World, n: usize) -> Result<Line> {
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let event = read_event(world, doc(world, i)?);
        let t = Instant::now();
        world.store.append(std::slice::from_ref(&event)).await?;
        samples.push(t.elapsed());
    }
    Ok(line(
        "audit append, 1 event, sequential",
        samples,
        start.elapsed(),
        1,
        "one transaction + commit per read",
    ))
}

pub(super) async fn append_concurrent(world: &World, n: usize, c: usize) -> Result<Line> {
    let per_task = n.div_ceil(c);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(c);
    for task in 0..c {
        let store = world.store.clone();
        let events: Vec<AuditEvent> = (0..per_task)
            .map(|i| doc(world, task * per_task + i).map(|d| read_event(world, d)))
            .collect::<Result<_>>()?;
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(events.len());
            for event in events {
                let t = Instant::now();
                store.append(std::slice::from_ref(&event)).await?;
                samples.push(t.elapsed());
            }
            Ok::<_, tiaki_audit::AuditError>(samples)
        }));
    }
    let mut samples = Vec::with_capacity(per_task * c);
    for task in tasks {
        samples.extend(task.await??);
    }
    Ok(line(
        &format!("audit append, 1 event, {c} concurrent"),
        samples,
        start.elapsed(),
        1,
        "what W1's connections ask of the log",
    ))
}

pub(super) async fn append_batched(world: &World, n: usize) -> Result<Line> {
    let calls = n.div_ceil(BATCH);
    let mut samples = Vec::with_capacity(calls);
    let start = Instant::now();
    for call in 0..calls {
        let events: Vec<AuditEvent> = (0..BATCH)
            .map(|i| doc(world, call * BATCH + i).map(|d| read_event(world, d)))
            .collect::<Result<_>>()?;
        let t = Instant::now();
        world.store.append(&events).await?;
        samples.push(t.elapsed());
    }
    Ok(line(
        &format!("audit append, {BATCH} events per commit"),
        samples,
        start.elapsed(),
        BATCH,
        "rate in events/s: the group-commit ceiling",
    ))
}

/// `AuditLog::record`, as the read path calls it (through the log's sequencer, which
/// commits whatever queued during the previous commit as one transaction).
pub(super) async fn record_through_log(world: &World, n: usize, c: usize) -> Result<Line> {
    let log = AuditLog::new(world.store.clone());
    let per_task = n.div_ceil(c);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(c);
    for task in 0..c {
        let log = log.clone();
        let mut grants = Vec::with_capacity(per_task);
        for i in 0..per_task {
            let d = doc(world, task * per_task + i)?;
            let target = Target::Document {
                document: d.id,
                patient: d.patient,
                practice: d.practice,
            };
            grants.push(
                authorize(&world.clinician, Action::ReadDocumentContent, target)
                    .map_err(|e| fail(format!("policy refused: {}", e.as_str())))?,
            );
        }
        tasks.push(tokio::spawn(async move {
            let ctx = RequestContext::default();
            let mut samples = Vec::with_capacity(grants.len());
            for grant in grants {
                let t = Instant::now();
                log.record(&grant, &ctx, Some(65_536)).await?;
                samples.push(t.elapsed());
            }
            Ok::<_, tiaki_audit::AuditError>(samples)
        }));
    }
    let mut samples = Vec::with_capacity(per_task * c);
    for task in tasks {
        samples.extend(task.await??);
    }
    let step = if c == 1 {
        "AuditLog::record, sequential".to_owned()
    } else {
        format!("AuditLog::record, {c} concurrent")
    };
    Ok(line(
        &step,
        samples,
        start.elapsed(),
        1,
        "the read path's append (sequencer, group commit)",
    ))
}
