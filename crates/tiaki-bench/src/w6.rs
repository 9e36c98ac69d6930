//! W6: sign-in throughput against the Argon2 ceiling measured in the same run.
//!
//! The ceiling is the number of cores divided by the time of one Argon2id verification
//! (the parameters Tiaki uses), timed here on one core just before the storm. The storm
//! is complete sign-ins through the JSON API — password and a one-time recovery code —
//! from many accounts at once, each a fresh session with its audit event.

use crate::machine::Machine;
use crate::world::{World, random_hex};
use crate::{Backend, Result, SeedArgs, W6Args, fail};
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use std::time::Instant;
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
        documents: 10,
        per_patient: 10,
        size: 1024,
    };
    let world = World::seed(backend, &seed).await?;
    let ActorKind::Staff { practice, .. } = world.clinician.kind else {
        return Err(fail("the bench clinician is not staff"));
    };
    let mut logins = Vec::new();
    for n in 0..args.accounts {
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
        for code in &factors.recovery_codes {
            logins.push((n, username.clone(), code.as_str().to_owned()));
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
    // One sign-in per account in flight at a time (a person does not sign in ten times
    // at once): every account's first code, then every account's second, and so on.
    logins.sort_by_key(|(n, _, _)| *n);
    let per_account = logins.len() / args.accounts.max(1);
    let mut ordered = Vec::with_capacity(logins.len());
    for round in 0..per_account {
        for account in 0..args.accounts {
            if let Some(login) = logins.get(account * per_account + round) {
                ordered.push(login.clone());
            }
        }
    }
    let logins = ordered;
    let attempts = logins.len();
    let started = Instant::now();
    let outcomes: Vec<bool> = futures::stream::iter(logins)
        .map(|(n, username, code)| {
            let client = clients.get(n);
            let url = &url;
            let password = &password;
            async move {
                let body = serde_json::json!({
                    "username": username,
                    "password": password.expose_secret(),
                    "recovery_code": code,
                });
                let Some(client) = client else {
                    return false;
                };
                client
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let ok = outcomes.iter().filter(|o| **o).count();
    let rate = ok as f64 / elapsed;
    world.finish().await?;
    if ok != attempts {
        return Err(fail(format!(
            "{} of {attempts} sign-ins failed",
            attempts - ok
        )));
    }
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
    Ok(())
}
