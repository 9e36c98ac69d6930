//! `rotate`: how fast an online KEK rotation re-wraps keys. Seeds a fresh store with
//! patients (one wrapped key each) and accounts with a sealed TOTP seed, then runs the
//! real rotation (`Tiaki::rotate_keys`, as `tiaki keys rotate` does) against a keyring
//! file and reports keys per second for the re-wrap itself — batches of reads, unwraps,
//! wraps and compare-and-set transactions — and the whole command, whose fixed waits
//! (for servers to take up the new key, and before the old one leaves) do not grow
//! with the data.

use crate::{Backend, Result, RotateArgs, fail};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tiaki_core::keys::{RotateOptions, RotationEvent};
use tiaki_core::{CoreConfig, Tiaki};
use tiaki_crypto::{Keyring, SecretPurpose, Vault};
use tiaki_domain::{AccountId, ActorKind, Nhi, PatientId, PracticeId, StaffRole};
use tiaki_store::{Account, BlobStore, Patient, Practice, Store};
use time::{Date, Month, OffsetDateTime};

pub async fn run(backend: Backend, args: &RotateArgs) -> Result<()> {
    if args.patients == 0 || args.batch == 0 {
        return Err(fail("--patients and --batch must be > 0"));
    }
    let dir = tempfile::TempDir::with_prefix("tiaki-bench-rotate-")?;
    let pg_url = match backend {
        Backend::Postgres | Backend::Both => {
            Some(tiaki_store::testing::fresh_postgres_url().await?)
        }
        Backend::Sqlite => None,
    };
    let url = pg_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("tiaki.db").display()));
    let store = tiaki_store::open_store(&url).await?;
    let (keyring, _) = Keyring::load_or_create(&dir.path().join("keyring.json"))?;
    let vault = Vault::new(keyring);
    let blobs = BlobStore::local(&dir.path().join("blobs"))?;
    let core = Tiaki::new(store.clone(), blobs, vault.clone(), CoreConfig::default());

    let seeded = Instant::now();
    seed(store.as_ref(), &vault, args).await?;
    println!(
        "\n== rotate on {}: {} patient keys, {} sealed secrets (seeded in {:.1} s), batch {}",
        backend.name(),
        args.patients,
        args.secrets,
        seeded.elapsed().as_secs_f64(),
        args.batch
    );

    let marks: Arc<Mutex<(Option<Instant>, Option<Instant>)>> = Arc::default();
    let seen = marks.clone();
    let mut on = move |event: RotationEvent| {
        if let Ok(mut m) = seen.lock() {
            match event {
                RotationEvent::Rewrapping { .. } if m.0.is_none() => m.0 = Some(Instant::now()),
                RotationEvent::RewrapDone { .. } => m.1 = Some(Instant::now()),
                _ => {}
            }
        }
    };
    let options = RotateOptions {
        batch: args.batch,
        ..RotateOptions::default()
    };
    let report = core.rotate_keys(&options, &mut on).await?;
    let (start, end) = *marks.lock().map_err(|_| fail("poisoned"))?;
    let rewrap = match (start, end) {
        (Some(s), Some(e)) => e.duration_since(s),
        _ => return Err(fail("the rotation reported no re-wrap")),
    };
    let moved = report.patient_keys + report.sealed_secrets;
    if report.patient_keys != args.patients || report.sealed_secrets != args.secrets {
        return Err(fail(format!(
            "re-wrapped {} patient keys and {} secrets, expected {} and {}",
            report.patient_keys, report.sealed_secrets, args.patients, args.secrets
        )));
    }
    let left = store
        .kek_rows()
        .await?
        .iter()
        .filter(|r| r.version != report.version)
        .map(|r| r.rows)
        .sum::<u64>();
    if left != 0 || report.retired.is_empty() {
        return Err(fail("rows remain under the old version"));
    }
    println!(
        "  re-wrap: {moved} keys in {:.2} s = {:.0} keys/s",
        rewrap.as_secs_f64(),
        per_second(moved, rewrap)
    );
    println!(
        "  whole command: {:.2} s (including {:.0} s of fixed waits) = {:.0} keys/s",
        report.elapsed.as_secs_f64(),
        (2 * tiaki_crypto::DEFAULT_REFRESH + options.settle).as_secs_f64(),
        per_second(moved, report.elapsed)
    );
    drop(core);
    drop(store);
    if let Some(url) = pg_url {
        tiaki_store::testing::drop_postgres_database(&url).await?;
    }
    Ok(())
}

#[allow(clippy::cast_precision_loss)]
fn per_second(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

async fn seed(store: &dyn Store, vault: &Vault, args: &RotateArgs) -> Result<()> {
    let practice = PracticeId::new();
    store
        .practice_insert(&Practice {
            id: practice,
            name: "Bench Practice".to_owned(),
            region: "Wellington".to_owned(),
        })
        .await?;
    let nhis = nhis(usize::try_from(args.patients)?)?;
    let born = Date::from_calendar_date(1980, Month::March, 3)?;
    for (n, nhi) in nhis.into_iter().enumerate() {
        let patient = Patient {
            id: PatientId::new(),
            practice,
            nhi,
            given_name: format!("Bench{n}"),
            family_name: "Patient".to_owned(),
            date_of_birth: born,
            email: None,
            created_at: OffsetDateTime::now_utc(),
        };
        let key = vault.new_patient_key(patient.id, practice)?;
        store.patient_insert(&patient, &key).await?;
    }
    for n in 0..args.secrets {
        let account = Account {
            id: AccountId::new(),
            username: format!("bench.staff.{n}"),
            display_name: format!("Bench Staff {n}"),
            // Never signed in with: the hash only has to be well formed.
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
            kind: ActorKind::Staff {
                practice,
                role: StaffRole::Nurse,
            },
            disabled: false,
            created_at: OffsetDateTime::now_utc(),
        };
        store.account_insert(&account).await?;
        let sealed = vault.seal_secret(SecretPurpose::Totp, account.id, &[7u8; 20])?;
        store
            .totp_put_pending(account.id, &sealed, OffsetDateTime::now_utc())
            .await?;
    }
    Ok(())
}

/// `count` distinct test-range NHIs (`Z…`), over as many prefixes as it takes.
fn nhis(count: usize) -> Result<Vec<Nhi>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(count);
    for third in b'A'..=b'Z' {
        for number in 0..2400u32 {
            if out.len() == count {
                return Ok(out);
            }
            if let Some(nhi) = Nhi::synthesize([b'Z', b'R', third], number)
                && seen.insert(nhi.to_string())
            {
                out.push(nhi);
            }
        }
    }
    if out.len() == count {
        Ok(out)
    } else {
        Err(fail("ran out of synthetic NHI numbers"))
    }
}
