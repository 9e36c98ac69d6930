//! W1: authorised, audited, decrypted `GET` of 64 KiB documents, chosen at random over
//! the whole seeded set, against nginx serving the same plaintext from disk.
//!
//! Both servers run on this machine and share its cores with wrk (Tiaki in this
//! process, nginx as a child). Rounds interleave — nginx, Tiaki, Tiaki without its
//! guard, and again — so drift in the machine's state hits each alike; the result is the
//! median Tiaki rate over the median nginx rate, and the guard's cost is the guarded
//! rate against the unguarded one, in the same run. Before anything is measured, sample documents are
//! fetched from both and compared byte for byte with the plaintext, and Tiaki's audit
//! log is checked to grow by one event per read.

use crate::cpu::{self, Sample, Usage};
use crate::machine::Machine;
use crate::nginx::Nginx;
use crate::stats::{fmt_duration, median};
use crate::world::World;
use crate::wrk::{self, Load, Report};
use crate::{Backend, Result, W1Args, fail};
use std::path::PathBuf;
use std::time::Duration;

/// W1's target: Tiaki at ≥ 70 % of nginx's request rate.
const TARGET_RATIO: f64 = 0.70;
/// Documents fetched from both servers and compared with the plaintext before measuring.
const VERIFY_SAMPLES: usize = 8;
/// A machine busier than this (% of one core) before a run is not quiet yet.
const QUIET_BELOW: f64 = 20.0;
/// A round where work outside the benchmark took more than this (% of one core) is
/// marked as disturbed.
const DISTURBED_ABOVE: f64 = 15.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Nginx,
    Tiaki,
    /// The same Tiaki with the guard switched off: what the guard costs.
    Unguarded,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Self::Nginx => "nginx",
            Self::Tiaki => "tiaki",
            Self::Unguarded => "tiaki-unguarded",
        }
    }

    fn is_tiaki(self) -> bool {
        matches!(self, Self::Tiaki | Self::Unguarded)
    }
}

#[derive(Debug)]
struct Row {
    round: usize,
    server: Server,
    report: Report,
    usage: Usage,
    /// Audit events appended during the run (Tiaki only).
    audited: Option<u64>,
}

pub async fn run(backend: Backend, args: &W1Args) -> Result<()> {
    let machine = Machine::probe();
    println!(
        "\n== W1 on {}: {} documents × {} bytes, wrk -t{} -c{} -d{}s, {} rounds (+{}s warm-up each)",
        backend.name(),
        args.seed.documents,
        args.seed.size,
        args.threads,
        args.connections,
        args.duration,
        args.rounds,
        args.warmup
    );
    machine.print();

    let world = World::seed(backend, &args.seed).await?;
    println!(
        "seeded {} documents for {} patients in {:.1}s (uploads through the core: validate, \
         encrypt, fsync, commit)",
        world.docs.len(),
        args.seed.documents.div_ceil(args.seed.per_patient),
        world.seed_time.as_secs_f64()
    );
    let nginx = Nginx::start(&world.nginx_root, &world.dir.path().join("nginx")).await?;
    let outcome = measure(&world, &nginx, &machine, args).await;
    nginx.stop().await?;
    world.finish().await?;
    outcome
}

async fn measure(world: &World, nginx: &Nginx, machine: &Machine, args: &W1Args) -> Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let token = world.login(&client).await?;
    verify(world, nginx, &client, &token).await?;

    let tiaki_base = format!("http://{}", world.addr);
    let unguarded_base = format!("http://{}", world.unguarded_addr);
    let nginx_base = format!("http://{}", nginx.addr);
    let (nginx_script, tiaki_script) = scripts(world, &token)?;
    let nginx_pids = nginx.pid().map(cpu::process_tree).unwrap_or_default();
    println!(
        "tiaki on {tiaki_base} (in this process), nginx on {nginx_base} (pids {nginx_pids:?})"
    );

    let load = |secs: u64| Load {
        threads: args.threads,
        connections: args.connections,
        duration: Duration::from_secs(secs),
    };
    if args.warmup > 0 {
        wrk::run(&nginx_base, &nginx_script, load(args.warmup)).await?;
        wrk::run(&tiaki_base, &tiaki_script, load(args.warmup)).await?;
    }

    let mut rows = Vec::new();
    for round in 1..=args.rounds {
        for server in [Server::Nginx, Server::Tiaki, Server::Unguarded] {
            let (base, script) = match server {
                Server::Nginx => (&nginx_base, &nginx_script),
                Server::Tiaki => (&tiaki_base, &tiaki_script),
                Server::Unguarded => (&unguarded_base, &tiaki_script),
            };
            settle(args.settle).await;
            let audit_before = world.store.audit_count().await?;
            let before = Sample::take(&nginx_pids);
            let report = wrk::run(base, script, load(args.duration)).await?;
            let after = Sample::take(&nginx_pids);
            let audit_after = world.store.audit_count().await?;
            let row = Row {
                round,
                server,
                usage: before.usage_until(&after, machine.cpus),
                audited: server
                    .is_tiaki()
                    .then(|| audit_after.saturating_sub(audit_before)),
                report,
            };
            print_progress(&row);
            rows.push(row);
        }
    }
    print_table(world.backend, args, machine, &rows);
    Ok(())
}

/// Waits (up to `max_secs`) until the machine is quiet.
async fn settle(max_secs: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(max_secs);
    loop {
        let busy = cpu::machine_busy(Duration::from_millis(500)).await;
        if busy < QUIET_BELOW {
            return;
        }
        if std::time::Instant::now() >= deadline {
            println!("  (machine still {busy:.0} % busy after {max_secs}s; measuring anyway)");
            return;
        }
    }
}

impl Row {
    fn disturbed(&self) -> bool {
        self.usage.other > DISTURBED_ABOVE
    }

    fn switches_per_request(&self) -> f64 {
        let switches = match self.server {
            Server::Nginx => self.usage.nginx_switches,
            Server::Tiaki | Server::Unguarded => self.usage.tiaki_switches,
        };
        switches as f64 / (self.report.requests.max(1)) as f64
    }
}

/// Fetches sample documents from both servers and compares them with the plaintext;
/// checks that each Tiaki read left exactly one audit event.
async fn verify(world: &World, nginx: &Nginx, client: &reqwest::Client, token: &str) -> Result<()> {
    let step = (world.docs.len() / VERIFY_SAMPLES).max(1);
    let audit_before = world.store.audit_count().await?;
    let mut checked = 0u64;
    for doc in world.docs.iter().step_by(step).take(VERIFY_SAMPLES) {
        let plaintext = tokio::fs::read(&doc.plaintext).await?;
        let from_nginx = client
            .get(format!("http://{}/d/{}", nginx.addr, doc.id))
            .send()
            .await?;
        if !from_nginx.status().is_success() {
            return Err(fail(format!("nginx answered {}", from_nginx.status())));
        }
        if from_nginx.bytes().await?.as_ref() != plaintext.as_slice() {
            return Err(fail(format!("nginx served other bytes for {}", doc.id)));
        }
        let from_tiaki = client
            .get(format!(
                "http://{}/api/v1/documents/{}/content",
                world.addr, doc.id
            ))
            .bearer_auth(token)
            .send()
            .await?;
        if !from_tiaki.status().is_success() {
            return Err(fail(format!("tiaki answered {}", from_tiaki.status())));
        }
        let headers = from_tiaki.headers();
        if headers.get("x-tiaki-access-id").is_none() {
            return Err(fail("tiaki's response carries no access id"));
        }
        if headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            != Some("image/png")
        {
            return Err(fail("tiaki's response is not image/png"));
        }
        if from_tiaki.bytes().await?.as_ref() != plaintext.as_slice() {
            return Err(fail(format!("tiaki served other bytes for {}", doc.id)));
        }
        checked += 1;
    }
    let audited = world
        .store
        .audit_count()
        .await?
        .saturating_sub(audit_before);
    if audited != checked {
        return Err(fail(format!(
            "{checked} reads left {audited} audit events (expected one each)"
        )));
    }
    println!(
        "verified: {checked} documents byte-identical from nginx and tiaki; {audited} audit events for {checked} reads"
    );
    Ok(())
}

/// The two wrk scripts: the same random choice of documents, each server's path.
fn scripts(world: &World, token: &str) -> Result<(PathBuf, PathBuf)> {
    let dir = world.dir.path();
    let nginx_paths: Vec<String> = world.docs.iter().map(|d| format!("/d/{}", d.id)).collect();
    let tiaki_paths: Vec<String> = world
        .docs
        .iter()
        .map(|d| format!("/api/v1/documents/{}/content", d.id))
        .collect();
    let bearer = format!("Bearer {token}");
    let nginx = wrk::write_script(&dir.join("nginx.lua"), &nginx_paths, &[])?;
    let tiaki = wrk::write_script(
        &dir.join("tiaki.lua"),
        &tiaki_paths,
        &[("Authorization", &bearer)],
    )?;
    Ok((nginx, tiaki))
}

fn print_progress(row: &Row) {
    println!(
        "  round {} {:5}: {:>9.0} req/s  p50 {:>8}  p99 {:>8}",
        row.round,
        row.server.name(),
        row.report.requests_per_sec,
        fmt_duration(row.report.p50),
        fmt_duration(row.report.p99)
    );
}

fn print_table(backend: Backend, args: &W1Args, machine: &Machine, rows: &[Row]) {
    println!(
        "\nW1 — backend {}, {} docs × {} B, wrk -t{} -c{} -d{}s, {} CPUs ({})",
        backend.name(),
        args.seed.documents,
        args.seed.size,
        args.threads,
        args.connections,
        args.duration,
        machine.cpus,
        machine.cpu_model
    );
    println!(
        "CPU columns: % of one core over the run (machine capacity {:.0} %); 'irq' is \
         interrupt + softirq time (mostly loopback TCP), 'steal' the hypervisor's, 'other' \
         everything else on the machine.\n",
        100.0 * machine.cpus as f64
    );
    println!(
        "| round | server | requests | req/s | MiB/s | p50 | p90 | p99 | errors | audited | cpu server | cpu wrk | cpu postgres | cpu irq | cpu steal | cpu other | ctx sw/req |"
    );
    println!(
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for row in rows {
        let r = &row.report;
        let server_cpu = match row.server {
            Server::Nginx => row.usage.nginx,
            Server::Tiaki | Server::Unguarded => row.usage.tiaki,
        };
        println!(
            "| {}{} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} |",
            row.round,
            if row.disturbed() { "*" } else { "" },
            row.server.name(),
            r.requests,
            r.requests_per_sec,
            if r.seconds > 0.0 {
                r.bytes_read / r.seconds / 1024.0 / 1024.0
            } else {
                0.0
            },
            fmt_duration(r.p50),
            fmt_duration(r.p90),
            fmt_duration(r.p99),
            r.non_2xx + r.socket_errors,
            row.audited
                .map_or_else(|| "–".to_owned(), |n| n.to_string()),
            server_cpu,
            row.usage.wrk,
            row.usage.postgres,
            row.usage.irq,
            row.usage.steal,
            row.usage.other,
            row.switches_per_request(),
        );
    }
    let rates = |server: Server| -> Vec<f64> {
        rows.iter()
            .filter(|r| r.server == server)
            .map(|r| r.report.requests_per_sec)
            .collect()
    };
    let quiet_rates = |server: Server| -> Vec<f64> {
        rows.iter()
            .filter(|r| r.server == server && !r.disturbed())
            .map(|r| r.report.requests_per_sec)
            .collect()
    };
    let nginx = median(&rates(Server::Nginx));
    let tiaki = median(&rates(Server::Tiaki));
    let ratio = tiaki / nginx;
    let per_round: Vec<String> = rates(Server::Nginx)
        .iter()
        .zip(rates(Server::Tiaki))
        .map(|(n, t)| format!("{:.1} %", 100.0 * t / n))
        .collect();
    let errors: u64 = rows
        .iter()
        .map(|r| r.report.non_2xx + r.report.socket_errors)
        .sum();
    println!(
        "\nmedian req/s: nginx {nginx:.0}, tiaki {tiaki:.0}; tiaki/nginx = {:.1} % (target ≥ {:.0} %: {})",
        100.0 * ratio,
        100.0 * TARGET_RATIO,
        if ratio >= TARGET_RATIO {
            "met"
        } else {
            "NOT met"
        }
    );
    println!("per-round tiaki/nginx: {}", per_round.join(", "));
    let unguarded = median(&rates(Server::Unguarded));
    println!(
        "guard cost: tiaki {tiaki:.0} req/s with the guard, {unguarded:.0} without; the guard \
         costs {:.1} % of W1 (target ≤ 5 %)",
        100.0 * (1.0 - tiaki / unguarded)
    );
    let (quiet_nginx, quiet_tiaki) = (quiet_rates(Server::Nginx), quiet_rates(Server::Tiaki));
    if rows.iter().any(Row::disturbed) {
        println!(
            "* = disturbed: other work on the machine took > {DISTURBED_ABOVE:.0} % of a core during the run"
        );
        if !quiet_nginx.is_empty() && !quiet_tiaki.is_empty() {
            println!(
                "undisturbed rounds only: nginx {:.0}, tiaki {:.0}; tiaki/nginx = {:.1} %",
                median(&quiet_nginx),
                median(&quiet_tiaki),
                100.0 * median(&quiet_tiaki) / median(&quiet_nginx)
            );
        }
    }
    if errors > 0 {
        println!(
            "WARNING: {errors} non-2xx responses or socket errors; these rounds are not valid"
        );
    }
}
