//! Where a W1 read's time goes: each step of the read path timed on its own, on the
//! same seeded data and the same backend, plus the bare HTTP stack's ceiling.
//!
//! Every decryption here goes through the vault with a receipt from a durable append to
//! the real store, exactly as a served read does; the receipts are simply obtained
//! before the clock starts, so key unwrapping and decryption can be timed apart from
//! the append.

mod audit;
mod floor;
mod reads;

use crate::cpu::Sample;
use crate::machine::Machine;
use crate::stats::{Summary, fmt_duration};
use crate::world::{SeededDoc, World};
use crate::{Backend, ComponentArgs, Result, fail};
use std::time::{Duration, Instant};

/// Documents with receipts for the unwrap and decrypt timings.
pub(super) const RECEIPTS: usize = 64;
/// Events per append in the group-commit measurement.
pub(super) const BATCH: usize = 32;

/// One measured step.
#[derive(Debug)]
pub(crate) struct Line {
    step: String,
    summary: Summary,
    /// Operations (or events) per second over the whole measurement.
    rate: f64,
    note: String,
}

pub async fn run(backend: Backend, args: &ComponentArgs) -> Result<()> {
    let machine = Machine::probe();
    println!(
        "\n== components on {}: {} documents × {} bytes, {} iterations, concurrency {}",
        backend.name(),
        args.seed.documents,
        args.seed.size,
        args.iterations,
        args.concurrency
    );
    machine.print();
    let world = World::seed(backend, &args.seed).await?;
    let before = Sample::take(&[]);
    let started = Instant::now();
    let outcome = measure(&world, args).await;
    let usage = before.usage_until(&Sample::take(&[]), machine.cpus);
    let took = started.elapsed();
    world.finish().await?;
    let lines = outcome?;
    print_lines(backend, &lines);
    println!(
        "\nmeasured in {:.0}s; meanwhile this process used {:.0} %, wrk {:.0} %, postgres {:.0} %, \
         irq {:.0} %, other work on the machine {:.0} % of a core{}",
        took.as_secs_f64(),
        usage.tiaki,
        usage.wrk,
        usage.postgres,
        usage.irq,
        usage.other,
        if usage.other > 15.0 {
            " (disturbed: figures are pessimistic)"
        } else {
            ""
        }
    );
    Ok(())
}

async fn measure(world: &World, args: &ComponentArgs) -> Result<Vec<Line>> {
    let n = args.iterations.max(1);
    let c = args.concurrency.max(1);
    let mut lines = Vec::new();

    lines.push(audit::fsync_floor(world, n).await?);
    lines.push(audit::append_sequential(world, n).await?);
    lines.push(audit::append_concurrent(world, n, c).await?);
    lines.push(audit::append_batched(world, n).await?);
    lines.push(audit::record_through_log(world, n, 1).await?);
    lines.push(audit::record_through_log(world, n, c).await?);
    lines.push(reads::ping(world, n).await?);
    lines.push(reads::authenticate(world, n).await?);
    lines.push(reads::document_rows(world, n).await?);
    lines.push(reads::patient_keys(world, n).await?);
    lines.push(reads::blob_reads(world, n).await?);
    lines.push(reads::blob_reads_whole(world, n).await?);
    lines.push(reads::blob_reads_direct(world, n).await?);
    lines.extend(reads::unwrap_and_decrypt(world, n).await?);
    lines.push(reads::open_sequential(world, n).await?);
    lines.push(reads::open_concurrent(world, n, c).await?);
    lines.extend(floor::http_floor(world, args).await?);
    Ok(lines)
}

pub(super) fn line(
    step: &str,
    mut samples: Vec<Duration>,
    wall: Duration,
    per_op: usize,
    note: &str,
) -> Line {
    let summary = Summary::of(&mut samples);
    let ops = summary.count.saturating_mul(per_op) as f64;
    Line {
        step: step.to_owned(),
        summary,
        rate: ops / wall.as_secs_f64().max(1e-9),
        note: note.to_owned(),
    }
}

pub(super) fn doc(world: &World, i: usize) -> Result<&SeededDoc> {
    world
        .docs
        .get(i % world.docs.len().max(1))
        .ok_or_else(|| fail("no documents seeded"))
}

fn print_lines(backend: Backend, lines: &[Line]) {
    println!("\ncomponents — backend {}\n", backend.name());
    println!("| step | n | mean | p50 | p99 | rate (/s) | note |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for l in lines {
        let mean = if l.summary.mean.is_zero() {
            "–".to_owned()
        } else {
            fmt_duration(l.summary.mean)
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {} |",
            l.step,
            l.summary.count,
            mean,
            fmt_duration(l.summary.p50),
            fmt_duration(l.summary.p99),
            l.rate,
            l.note
        );
    }
}
