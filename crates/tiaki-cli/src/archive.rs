//! `tiaki archive …`: retention and the cold archive, run on the server with its
//! database and keys (the private archive key only ever for `restore`, brought to the
//! server for that one command and taken away again).
//!
//! - `keygen --out DIR`: the archive's X25519 key pair. The private key is written
//!   owner-only and belongs offline; the public key goes in `core.archive.public_key`.
//! - `run`: archive everything the retention rules make due (resumable; progress bar).
//! - `restore --document ID --key FILE`: bring one document back online.
//! - `requests`: the open retrieval requests, one JSON object per line.
//! - `shred --patient ID --reason …`: erase a patient's key and so every document of
//!   theirs (crypto-shredding).

use crate::config::ConfigArgs;
use crate::progress::Progress;
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};
use tiaki_audit::RequestContext;
use tiaki_core::Tiaki;
use tiaki_crypto::hpke::PrivateKey;
use tiaki_domain::{DocumentId, PatientId};
use time::OffsetDateTime;

/// The private key file's name in the `keygen` directory.
pub const PRIVATE_FILE: &str = "tiaki-archive.key";
/// The public key file's name in the `keygen` directory.
pub const PUBLIC_FILE: &str = "tiaki-archive.pub";
const PRIVATE_HEADER: &str = "# Tiaki archive PRIVATE key (X25519). Keep it OFFLINE: whoever holds it can open \
every archived document. Bring it to the server only for `tiaki archive restore`.";

#[derive(Subcommand)]
pub enum ArchiveCommand {
    /// Make the archive key pair: the private key (keep it offline) and the public key.
    Keygen {
        /// A directory for the two files (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Archive every document the retention rules make due.
    Run {
        #[command(flatten)]
        config: ConfigArgs,
        /// Only count what is due.
        #[arg(long)]
        dry_run: bool,
        /// Apply the rules as on this day (YYYY-MM-DD) instead of today: to preview what
        /// a later run will take with `--dry-run`, or to archive ahead of time.
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Bring one archived document back online with the offline private key.
    Restore {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        document: String,
        /// The private key file `keygen` wrote.
        #[arg(long)]
        key: PathBuf,
    },
    /// The open requests to bring archived documents back, one JSON object per line.
    Requests {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Erase a patient: delete their key, so every document of theirs is unreadable.
    Shred {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        patient: String,
        /// Why (kept with the erasure).
        #[arg(long)]
        reason: Option<String>,
    },
}

impl ArchiveCommand {
    /// The configuration the command opens, if it needs the server's.
    pub fn config(&self) -> Option<&ConfigArgs> {
        match self {
            Self::Keygen { .. } => None,
            Self::Run { config, .. }
            | Self::Restore { config, .. }
            | Self::Requests { config }
            | Self::Shred { config, .. } => Some(config),
        }
    }
}

fn keygen(out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let private = PrivateKey::generate().map_err(|e| e.to_string())?;
    let public = private.public_key();
    let private_path = out.join(PRIVATE_FILE);
    let public_path = out.join(PUBLIC_FILE);
    for path in [&private_path, &public_path] {
        if path.exists() {
            return Err(format!(
                "{} exists already; an archive key is never overwritten (documents may be sealed to it)",
                path.display()
            ));
        }
    }
    let text = format!("{PRIVATE_HEADER}\n{}\n", private.to_hex().as_str());
    write_new(&private_path, text.as_bytes(), 0o600)?;
    write_new(
        &public_path,
        format!("{}\n", public.to_hex()).as_bytes(),
        0o644,
    )?;
    eprintln!(
        "\n  The archive PRIVATE key is in {}.\n  Move it OFFLINE now (an encrypted USB key in a safe, a hardware module):\n  whoever holds it can open every archived document, and without it none can\n  be restored. Never leave it on this server or beside its backups.\n",
        private_path.display()
    );
    println!("{}", public.to_hex());
    eprintln!(
        "Put the public key in the configuration file:\n\n[core.archive]\npublic_key = \"{}\"\n",
        public.to_hex()
    );
    Ok(())
}

/// Creates `path` (never replacing a file) with `mode`, and syncs it.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `YYYY-MM-DD` as midnight UTC.
fn parse_day(day: &str) -> Result<OffsetDateTime, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(day.trim(), format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| format!("--as-of must be a date like 2031-06-30 (got '{day}')"))
}

/// Reads a private key file: comment lines and one line of 64 hex digits.
fn read_private_key(path: &Path) -> Result<PrivateKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
    let text = zeroize::Zeroizing::new(text);
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    match (lines.next(), lines.next()) {
        (Some(line), None) => PrivateKey::from_hex(line).map_err(|_| {
            format!(
                "{} is not an archive private key (one line of 64 hex digits, as `tiaki archive keygen` writes)",
                path.display()
            )
        }),
        _ => Err(format!(
            "{} is not an archive private key (one line of 64 hex digits, as `tiaki archive keygen` writes)",
            path.display()
        )),
    }
}

/// The subcommands that need no server: `keygen`.
pub fn run_offline(command: ArchiveCommand) -> Result<(), String> {
    match command {
        ArchiveCommand::Keygen { out } => keygen(&out),
        _ => Err("this archive command needs the server's configuration".to_owned()),
    }
}

pub async fn run(app: &Tiaki, command: ArchiveCommand) -> Result<(), String> {
    let ctx = RequestContext::default();
    match command {
        ArchiveCommand::Keygen { out } => keygen(&out),
        ArchiveCommand::Run { dry_run, as_of, .. } => {
            let now = match as_of {
                None => OffsetDateTime::now_utc(),
                Some(day) => parse_day(&day)?,
            };
            let plan = app.archive_plan(now).await.map_err(|e| e.to_string())?;
            for (kind, years, due) in &plan.rules {
                println!("{}: {due} due (older than {years} years)", kind.as_str());
            }
            if dry_run {
                println!(
                    "{} documents due; nothing archived (dry run).",
                    plan.total()
                );
                return Ok(());
            }
            let mut progress = Progress::new("archiving", plan.total());
            let report = app
                .archive_run(now, &mut |n| progress.advance(n))
                .await
                .map_err(|e| e.to_string())?;
            progress.finish();
            println!(
                "Archived {} documents; {} changed meanwhile and were left; {} could not be opened and stay online.",
                report.archived, report.skipped, report.failed
            );
            if report.failed > 0 {
                return Err(format!(
                    "{} documents could not be archived (see the log)",
                    report.failed
                ));
            }
            Ok(())
        }
        ArchiveCommand::Restore { document, key, .. } => {
            let document: DocumentId = document
                .parse()
                .map_err(|_| format!("'{document}' is not a document id"))?;
            let private = read_private_key(&key)?;
            let meta = app
                .archive_restore(document, &private, &ctx)
                .await
                .map_err(|e| e.to_string())?;
            println!("Document {} is online again.", meta.id);
            Ok(())
        }
        ArchiveCommand::Requests { .. } => {
            let open = app
                .open_retrieval_requests(1000)
                .await
                .map_err(|e| e.to_string())?;
            for r in open {
                println!(
                    "{}",
                    serde_json::json!({
                        "id": r.id,
                        "document": r.document.to_string(),
                        "patient": r.patient.to_string(),
                        "practice": r.practice.to_string(),
                        "requested_by": r.requested_by.to_string(),
                        "requested_at": r.requested_at.unix_timestamp(),
                    })
                );
            }
            Ok(())
        }
        ArchiveCommand::Shred {
            patient, reason, ..
        } => {
            let patient: PatientId = patient
                .parse()
                .map_err(|_| format!("'{patient}' is not a patient id"))?;
            let report = app
                .erase_patient(patient, reason.as_deref().unwrap_or(""), &ctx)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "Erased patient {}: {} documents can no longer be opened; {} ciphertext files deleted.",
                patient, report.erasure.documents, report.blobs_deleted
            );
            Ok(())
        }
    }
}
