//! Start-up: open the keyring, the store and the blob store, check they belong
//! together, and serve.

use crate::config::{BlobSettings, Settings};
use std::time::Duration;
use tiaki_core::Tiaki;
use tiaki_core::demo::Seeded;
use tiaki_crypto::{Keyring, Vault};
use tiaki_store::{BlobStore, open_store};
use tiaki_web::{AppState, WebConfig};

/// The setting that ties a database to the keyring its keys are wrapped with.
const KEYRING_CHECK: &str = "keyring_check";

/// Opens everything and checks the keyring is the one this database was made with.
pub async fn open(settings: &Settings) -> Result<Tiaki, String> {
    create_private_dir(&settings.data_dir)?;
    let (keyring, created) =
        Keyring::load_or_create(&settings.keyring).map_err(|e| e.to_string())?;
    if created {
        eprintln!(
            "\n  WARNING: generated a new keyring at {}.\n  It holds the keys to every document. Production keys belong in a KMS;\n  back this file up apart from the database, and never beside it.\n",
            settings.keyring.display()
        );
    }
    let store = open_store(&settings.database_url)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let check = hex_tag(&keyring);
    match store
        .setting(KEYRING_CHECK)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(stored) if stored != check => {
            return Err(format!(
                "the keyring at {} is not the keyring this database was encrypted with; start with the right keyring file (TIAKI_KEYRING)",
                settings.keyring.display()
            ));
        }
        Some(_) => {}
        None => store
            .setting_put(KEYRING_CHECK, &check)
            .await
            .map_err(|e| e.to_string())?,
    }
    let blobs = match &settings.blobs {
        BlobSettings::Local(dir) => BlobStore::local(dir),
        BlobSettings::S3(cfg) => BlobStore::s3(cfg),
    }
    .map_err(|e| format!("cannot open the blob store: {e}"))?;
    Ok(Tiaki::new(
        store,
        blobs,
        Vault::new(keyring),
        settings.core.clone(),
    ))
}

fn hex_tag(keyring: &Keyring) -> String {
    keyring
        .mac_key()
        .tag(
            "tiaki/keyring-check/v1",
            b"this database belongs to this keyring",
        )
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn create_private_dir(dir: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))
}

pub async fn seed(app: &Tiaki, settings: &Settings) -> Result<(), String> {
    match app
        .seed_demo(&settings.data_dir)
        .await
        .map_err(|e| format!("seeding the demo failed: {e}"))?
    {
        Seeded::Fresh { logins, documents } => {
            println!(
                "Seeded the demo: 3 practices, their staff, 60 patients and {documents} documents."
            );
            println!(
                "Demo logins (usernames and passwords): {}",
                logins.display()
            );
        }
        Seeded::Already { logins } => {
            println!(
                "The demo was seeded before. Demo logins: {}",
                logins.display()
            );
        }
    }
    Ok(())
}

pub async fn serve(mut settings: Settings, demo: bool) -> Result<(), String> {
    if !settings.listen.ip().is_loopback() && !settings.behind_tls_proxy {
        return Err(format!(
            "refusing to serve plain HTTP on {}: sessions must travel over TLS. Listen on loopback, or put a TLS-terminating proxy in front and pass --behind-tls-proxy",
            settings.listen
        ));
    }
    // A demo (seeded now, or before: its logins file is there) has staff and operators
    // with an authenticator app, so it lets them use it; a real installation decides
    // in its configuration (default: passkeys only).
    let demo_data = demo || settings.data_dir.join("demo-logins.json").exists();
    if demo_data && !settings.staff_totp_explicit {
        settings.core.staff_totp_allowed = true;
        println!(
            "Demo configuration: staff and operators may sign in with TOTP (staff_totp_allowed = true)."
        );
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Links in emails name the address people reach; unconfigured, this one.
    if settings.core.mail.public_url.is_none() {
        settings.core.mail.public_url = Some(format!("http://{local}"));
    }
    let app = open(&settings).await?;
    if demo {
        seed(&app, &settings).await?;
    }
    spawn_sweeper(app.clone());
    app.spawn_key_watch();
    app.transparency()
        .clone()
        .spawn_cadence(Duration::from_secs(settings.core.checkpoint_seconds.max(1)));
    println!("Tiaki is listening on http://{local}");
    if settings.core.webauthn.rp_id == "localhost" {
        println!(
            "Passkeys work at http://localhost:{} (WebAuthn needs a name, not an IP address).",
            local.port()
        );
    }
    tracing::info!(address = %local, "listening");
    let state = AppState::new(app, WebConfig::default());
    tiaki_web::serve(listener, state, shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))
}

/// Removes orphan blobs (left by a crash between blob write and commit) and the
/// guard's expired counters now and then.
fn spawn_sweeper(app: Tiaki) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            match app
                .blobs()
                .sweep_orphans(app.store().as_ref(), Duration::from_secs(3600))
                .await
            {
                Ok(report) if report.deleted > 0 => {
                    tracing::info!(
                        examined = report.examined,
                        deleted = report.deleted,
                        "swept orphan blobs"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "orphan sweep failed"),
            }
            match app.guard_prune().await {
                Ok(n) if n > 0 => tracing::info!(rows = n, "pruned old guard counters"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "guard counter prune failed"),
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
