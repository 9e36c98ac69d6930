//! W6: sign-in throughput against the Argon2 ceiling measured in the same run.
//!
//! The ceiling is the number of cores divided by the time of one Argon2id verification
//! (the parameters Tiaki uses), timed here on one core just before the storm. The storm
//! is complete sign-ins through the JSON API — password and a one-time recovery code —
//! from many accounts at once, each a fresh session with its audit event.

use crate::machine::Machine;
use crate::stats::fmt_duration;
use crate::world::{World, random_hex};
use crate::wrk::{self, Load};
use crate::{Backend, Result, SeedArgs, W6Args, fail};
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use std::time::{Duration, Instant};
use tiaki_crypto::PasswordHasher;
use tiaki_domain::{ActorKind, StaffRole};

/// W6's target: sign-ins at ≥ 95 % of cores ÷ Argon2 time.
const TARGET_RATIO: f64 = 0.95;

pub async fn run(backend: Backend, args: &W6Args) -> Result<()> {
    if args.concurrency == 0 || args.concurrency > args.accounts {
        return Err(fail("--concurrency must be between 1 and --accounts"));
    }
    let machine = Machine::probe();
    println!(
        "\n== W6 on {}: {} accounts × their recovery codes, concurrency {}",
        backend.name(),
        args.accounts,
        args.concurrency
    );
    machine.print();

    // The ceiling: one verification at a time, on a pool of one.
    let hasher = PasswordHasher::new(1);
    let password = SecretString::from(random_hex(16)?);
    let phc = hasher.hash(&password).await?;
    if !hasher.verify(Some(&phc), &password).await {
        return Err(fail("argon2 did not verify its own hash"));
    }
    let started = Instant::now();
    for _ in 0..args.samples {
        hasher.verify(Some(&phc), &password).await;
    }
    let argon2 = started.elapsed().as_secs_f64() / args.samples as f64;
    let ceiling = machine.cpus as f64 / argon2;
    println!(
        "argon2id verify: {:.1} ms on one core ({} samples) -> ceiling {ceiling:.1} sign-ins/s on {} cores",
        argon2 * 1000.0,
        args.samples,
        machine.cpus
    );

    let seed = SeedArgs {
        documents: 200,
        per_patient: 10,
        size: 64 * 1024,
    };
    let world = World::seed(backend, &seed).await?;
    let ActorKind::Staff { practice, .. } = world.clinician.kind else {
        return Err(fail("the bench clinician is not staff"));
    };
    // Two groups of accounts: one for the storm alone, one for the storm during reads.
    let mut groups = [Vec::new(), Vec::new()];
    for n in 0..2 * args.accounts {
        let username = format!("nurse{n}.bench");
        let account = world
            .core
            .create_account(
                &username,
                "Bench Nurse",
                &password,
                ActorKind::Staff {
                    practice,
                    role: StaffRole::Nurse,
                },
            )
            .await?;
        let factors = world.core.provision_totp(account.id).await?;
        let codes = factors.recovery_codes.iter().map(|c| c.as_str().to_owned());
        if let Some(group) = groups.get_mut(n / args.accounts) {
            group.push((n % args.accounts, username, codes.collect::<Vec<_>>()));
        }
    }
    // A storm comes from many places: each account signs in from its own loopback
    // address, so what is measured is sign-in work, not the per-address throttle.
    let clients = (0..args.accounts)
        .map(|n| {
            let last = u8::try_from(n % 250 + 1).unwrap_or(1);
            reqwest::Client::builder()
                .local_address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(
                    127, 0, 1, last,
                )))
                .build()
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let url = format!("http://{}/api/v1/sessions", world.addr);
    let [alone, during] = groups;

    let (ok, attempts, elapsed) = storm(
        clients.clone(),
        url.clone(),
        order(alone),
        password.clone(),
        args.concurrency,
    )
    .await;
    if ok != attempts {
        return Err(fail(format!(
            "{} of {attempts} sign-ins failed",
            attempts - ok
        )));
    }
    let rate = ok as f64 / elapsed;
    let ratio = rate / ceiling;
    println!(
        "\nW6 — backend {}: {ok} sign-ins in {elapsed:.2}s = {rate:.1}/s; ceiling {ceiling:.1}/s; \
         {:.1} % of the ceiling (target ≥ {:.0} %: {})",
        backend.name(),
        100.0 * ratio,
        100.0 * TARGET_RATIO,
        if ratio >= TARGET_RATIO {
            "met"
        } else {
            "NOT met"
        }
    );

    // Document reads (W1's request) alone, then with a storm running beside them.
    let reader = reqwest::Client::new();
    let token = world.login(&reader).await?;
    let paths: Vec<String> = world
        .docs
        .iter()
        .map(|d| format!("/api/v1/documents/{}/content", d.id))
        .collect();
    let bearer = format!("Bearer {token}");
    let script = wrk::write_script(
        &world.dir.path().join("w6-reads.lua"),
        &paths,
        &[("Authorization", &bearer)],
    )?;
    let base = format!("http://{}", world.addr);
    let load = || Load {
        threads: 1,
        connections: 16,
        duration: Duration::from_secs(args.read_seconds),
    };
    let quiet = wrk::run(&base, &script, load()).await?;
    let storming = tokio::spawn(storm(
        clients,
        url,
        order(during),
        password,
        args.concurrency,
    ));
    let busy = wrk::run(&base, &script, load()).await?;
    let (storm_ok, storm_attempts, storm_elapsed) = storming
        .await
        .map_err(|e| fail(format!("the storm task failed: {e}")))?;
    world.finish().await?;
    let drop = 1.0 - busy.requests_per_sec / quiet.requests_per_sec;
    println!(
        "reads alone {:.0}/s (p99 {}); during a storm of {storm_ok}/{storm_attempts} sign-ins \
         ({:.1}/s) {:.0}/s (p99 {}): reads drop {:.1} % (target ≤ 10 %: {})",
        quiet.requests_per_sec,
        fmt_duration(quiet.p99),
        storm_ok as f64 / storm_elapsed,
        busy.requests_per_sec,
        fmt_duration(busy.p99),
        100.0 * drop,
        if drop <= 0.10 { "met" } else { "NOT met" }
    );
    Ok(())
}

/// One sign-in per account in flight at a time (a person does not sign in ten times at
/// once): every account's first code, then every account's second, and so on.
fn order(accounts: Vec<(usize, String, Vec<String>)>) -> Vec<(usize, String, String)> {
    let rounds = accounts.iter().map(|(_, _, c)| c.len()).max().unwrap_or(0);
    let mut out = Vec::new();
    for round in 0..rounds {
        for (n, username, codes) in &accounts {
            if let Some(code) = codes.get(round) {
                out.push((*n, username.clone(), code.clone()));
            }
        }
    }
    out
}

/// Signs in with every (client, username, code), `concurrency` at once; returns how
/// many succeeded, how many were tried and the seconds it took.
async fn storm(
    clients: Vec<reqwest::Client>,
    url: String,
    logins: Vec<(usize, String, String)>,
    password: SecretString,
    concurrency: usize,
) -> (usize, usize, f64) {
    let attempts = logins.len();
    let started = Instant::now();
    let outcomes: Vec<bool> = futures::stream::iter(logins)
        .map(|(n, username, code)| {
            let client = clients.get(n).cloned();
            let url = &url;
            let password = &password;
            async move {
                let Some(client) = client else {
                    return false;
                };
                let body = serde_json::json!({
                    "username": username,
                    "password": password.expose_secret(),
                    "recovery_code": code,
                });
                client
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let ok = outcomes.iter().filter(|o| **o).count();
    (ok, attempts, started.elapsed().as_secs_f64())
}
