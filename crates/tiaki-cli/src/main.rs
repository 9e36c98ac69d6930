//! The `tiaki` command: run the portal, seed demo data, migrate, sweep orphans.

mod archive;
mod audit;
mod config;
mod guard;
mod incidents;
mod keys;
mod leaks;
mod progress;
mod start;

use clap::{Parser, Subcommand};
use config::{ConfigArgs, Settings};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tiaki",
    version,
    about = "Tiaki: a patient health portal that guards what it holds"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the portal.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Seed demo practices, staff, patients and documents (once) before serving.
        #[arg(long)]
        demo: bool,
    },
    /// Seed the demo data and exit.
    Demo {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Create or upgrade the database schema and exit.
    Migrate {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Export or verify the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The guard: containments, alerts, module kill switches, decoys.
    Guard {
        #[command(subcommand)]
        command: guard::GuardCommand,
    },
    /// Breach response: open, scope, publish, notify, export, report, verify.
    Incident {
        #[command(subcommand)]
        command: incidents::IncidentCommand,
    },
    /// Containment at scale: sign everyone (or some) out, force password resets,
    /// freeze a module.
    Contain {
        #[command(subcommand)]
        command: incidents::ContainCommand,
    },
    /// Key-encryption keys: status, online rotation, retirement of old versions.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Retention and the cold archive: keygen, run, restore, requests, shred.
    Archive {
        #[command(subcommand)]
        command: archive::ArchiveCommand,
    },
    /// Leak tracing: match leaked files to documents and downloads; fingerprint coverage.
    Leak {
        #[command(subcommand)]
        command: leaks::LeakCommand,
    },
    /// Delete ciphertext blobs that no document references (older than the grace period).
    Sweep {
        #[command(flatten)]
        config: ConfigArgs,
        /// Only blobs at least this many minutes old are considered.
        #[arg(long, default_value_t = 60)]
        grace_minutes: u64,
    },
}

// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum AuditCommand {
    /// Write every audit event and signed checkpoint to a file (JSON Lines).
    Export {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Check an export offline: every leaf, every checkpoint signature and root.
    Verify {
        /// The export file.
        path: std::path::PathBuf,
        /// The verifier key to trust (`tiaki.audit/…+id+key`), e.g. from /api/v1/audit/key.
        #[arg(long)]
        key: Option<String>,
        /// A signed checkpoint (note file) the log must extend.
        #[arg(long)]
        against: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tiaki: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tiaki: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve { config, demo } => {
            let settings = Settings::load(&config)?;
            start::serve(settings, demo).await
        }
        Command::Demo { config } => {
            let settings = Settings::load(&config)?;
            let app = start::open(&settings).await?;
            start::seed(&app, &settings).await
        }
        Command::Migrate { config } => {
            let settings = Settings::load(&config)?;
            start::open(&settings).await?;
            println!("The database schema is up to date.");
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Export { config, out },
        } => {
            let settings = Settings::load(&config)?;
            let app = start::open(&settings).await?;
            audit::export(&app, &out).await
        }
        Command::Audit {
            command: AuditCommand::Verify { path, key, against },
        } => audit::verify_file(&path, key.as_deref(), against.as_deref()),
        Command::Guard { command } => {
            let settings = Settings::load(command.config())?;
            let app = start::open(&settings).await?;
            guard::run(&app, command).await
        }
        Command::Incident { command } => match command.config() {
            None => incidents::run_offline(&command),
            Some(config) => {
                let settings = Settings::load(config)?;
                let app = start::open(&settings).await?;
                incidents::run(&app, command).await
            }
        },
        Command::Contain { command } => {
            let settings = Settings::load(command.config())?;
            let app = start::open(&settings).await?;
            incidents::contain(&app, command).await
        }
        Command::Keys { command } => {
            let settings = Settings::load(command.config())?;
            let app = start::open(&settings).await?;
            keys::run(&app, command).await
        }
        Command::Archive { command } => match command.config() {
            None => archive::run_offline(command),
            Some(config) => {
                let settings = Settings::load(config)?;
                let app = start::open(&settings).await?;
                archive::run(&app, command).await
            }
        },
        Command::Leak { command } => {
            let settings = Settings::load(command.config())?;
            let app = start::open(&settings).await?;
            leaks::run(&app, command).await
        }
        Command::Sweep {
            config,
            grace_minutes,
        } => {
            let settings = Settings::load(&config)?;
            let app = start::open(&settings).await?;
            let report = app
                .blobs()
                .sweep_orphans(
                    app.store().as_ref(),
                    std::time::Duration::from_secs(grace_minutes * 60),
                )
                .await
                .map_err(|e| format!("sweep failed: {e}"))?;
            println!(
                "Examined {} blobs, deleted {} orphans.",
                report.examined, report.deleted
            );
            Ok(())
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TIAKI_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("TIAKI_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
