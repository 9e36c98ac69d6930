//! `tiaki incident …` and `tiaki contain …`: breach response from the server console.
//! Each command is one step (open, scope, publish, notify, export, report) or one
//! containment action, and each is audited.

use clap::Subcommand;
use std::path::{Path, PathBuf};
use tiaki_audit::RequestContext;
use tiaki_core::Tiaki;
use tiaki_core::incidents::{Criteria, NoticeRun, ScopeExport, ScopeModule, regulator_report};
use tiaki_domain::AccountId;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::ConfigArgs;
use crate::progress::Progress;

// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum IncidentCommand {
    /// Open an incident; prints its number.
    Open {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        title: String,
        /// Who is opening it (defaults to $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Incidents, their scope versions and notice progress.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Compute and freeze the next scope version from the audit log.
    Scope {
        #[command(flatten)]
        config: ConfigArgs,
        number: u64,
        /// An account (username or id) whose reads are in scope; repeatable.
        #[arg(long = "actor")]
        actors: Vec<String>,
        /// A session or API token id; repeatable.
        #[arg(long = "session")]
        sessions: Vec<String>,
        /// An address or CIDR range; repeatable.
        #[arg(long = "address")]
        addresses: Vec<String>,
        /// Start of the window (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// End of the window (RFC 3339, exclusive).
        #[arg(long)]
        to: Option<String>,
        /// documents (default) or all.
        #[arg(long, default_value = "documents")]
        module: String,
    },
    /// Make a scope version (the latest by default) what patients are told.
    Publish {
        #[command(flatten)]
        config: ConfigArgs,
        number: u64,
        #[arg(long)]
        version: Option<u64>,
    },
    /// Queue every affected patient's notice from the published scope and send them.
    Notify {
        #[command(flatten)]
        config: ConfigArgs,
        number: u64,
        /// Notices per second at most.
        #[arg(long, default_value_t = 20)]
        rate: u32,
        /// Send at most this many in this run.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Write the scope as JSON (with proofs) and CSV into a directory.
    Export {
        #[command(flatten)]
        config: ConfigArgs,
        number: u64,
        #[arg(long)]
        version: Option<u64>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a summary per practice and a draft regulator report into a directory.
    Report {
        #[command(flatten)]
        config: ConfigArgs,
        number: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check an export offline: signature, every proof, every row against its event.
    Verify {
        /// The JSON export.
        path: PathBuf,
        /// The verifier key to trust (`tiaki.audit/…`), e.g. from /api/v1/audit/key.
        #[arg(long)]
        key: String,
    },
}

impl IncidentCommand {
    /// The configuration, for commands that open the database.
    pub fn config(&self) -> Option<&ConfigArgs> {
        match self {
            Self::Open { config, .. }
            | Self::List { config }
            | Self::Scope { config, .. }
            | Self::Publish { config, .. }
            | Self::Notify { config, .. }
            | Self::Export { config, .. }
            | Self::Report { config, .. } => Some(config),
            Self::Verify { .. } => None,
        }
    }
}

#[derive(Subcommand)]
pub enum ContainCommand {
    /// Sign out every session: of the named accounts, or with --everyone of everybody.
    Sessions {
        #[command(flatten)]
        config: ConfigArgs,
        /// An account (username or id); repeatable.
        #[arg(long = "account")]
        accounts: Vec<String>,
        #[arg(long)]
        everyone: bool,
    },
    /// Force a credential reset: passwords stop working, sessions and trusted devices
    /// end, and owners with a verified address are emailed a link.
    Reset {
        #[command(flatten)]
        config: ConfigArgs,
        /// An account (username or id); repeatable.
        #[arg(long = "account")]
        accounts: Vec<String>,
        /// A file of accounts, one per line.
        #[arg(long)]
        accounts_file: Option<PathBuf>,
    },
    /// Freeze a module: read_only or closed (open to lift).
    Module {
        #[command(flatten)]
        config: ConfigArgs,
        module: String,
        state: String,
        #[arg(long)]
        reason: String,
    },
}

impl ContainCommand {
    pub fn config(&self) -> &ConfigArgs {
        match self {
            Self::Sessions { config, .. }
            | Self::Reset { config, .. }
            | Self::Module { config, .. } => config,
        }
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn parse_time(s: Option<&str>, what: &str) -> Result<Option<OffsetDateTime>, String> {
    s.map(|s| {
        OffsetDateTime::parse(s.trim(), &Rfc3339)
            .map_err(|_| format!("--{what} {s:?} is not an RFC 3339 time (2026-11-20T09:00:00Z)"))
    })
    .transpose()
}

/// Runs a command that needs no database.
pub fn run_offline(command: &IncidentCommand) -> Result<(), String> {
    let IncidentCommand::Verify { path, key } = command else {
        return Err("this command needs the database".into());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let export: ScopeExport = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not an export: {e}", path.display()))?;
    let proved = export.verify(key)?;
    println!(
        "Verified: incident {} version {}, {proved} accesses proved against the signed \
         checkpoint of {} events.",
        export.incident, export.version, export.tree_size
    );
    Ok(())
}

pub async fn run(app: &Tiaki, command: IncidentCommand) -> Result<(), String> {
    let ctx = RequestContext::default();
    match command {
        IncidentCommand::Open { title, by, .. } => {
            let by = by
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "console".into());
            let incident = app.incident_open(&title, &by, &ctx).await.map_err(err)?;
            println!("Opened incident {}.", incident.number);
            Ok(())
        }
        IncidentCommand::List { .. } => {
            for i in app.incidents().await.map_err(err)? {
                println!(
                    "incident {} opened {} by {}: {}",
                    i.number, i.opened_at, i.opened_by, i.title
                );
                for s in app.incident_scopes(i.number).await.map_err(err)? {
                    let published = if i.published_version == Some(s.version) {
                        " (published)"
                    } else {
                        ""
                    };
                    println!(
                        "  version {}{published}: {} patients, {} documents, {} accesses, {} bytes; criteria {}",
                        s.version, s.patients, s.documents, s.accesses, s.bytes, s.criteria
                    );
                }
                let counts = app.store().notice_counts(i.number).await.map_err(err)?;
                if counts.total() > 0 {
                    println!(
                        "  notices: {} sent, {} queued, {} sending, {} without address, {} failed",
                        counts.sent,
                        counts.queued,
                        counts.sending,
                        counts.no_address,
                        counts.failed
                    );
                }
            }
            Ok(())
        }
        IncidentCommand::Scope {
            number,
            actors,
            sessions,
            addresses,
            from,
            to,
            module,
            ..
        } => {
            let criteria = Criteria {
                actors,
                sessions,
                addresses,
                from: parse_time(from.as_deref(), "from")?,
                to: parse_time(to.as_deref(), "to")?,
                module: ScopeModule::parse(&module).map_err(err)?,
            };
            let started = std::time::Instant::now();
            let s = app
                .incident_scope(number, &criteria, &ctx)
                .await
                .map_err(err)?;
            println!(
                "Incident {number} scope version {}: {} patients, {} documents, {} accesses, \
                 {} bytes, against the signed checkpoint of {} events ({:.1} s).",
                s.version,
                s.patients,
                s.documents,
                s.accesses,
                s.bytes,
                s.tree_size,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        IncidentCommand::Publish {
            number, version, ..
        } => {
            let v = app
                .incident_publish(number, version, &ctx)
                .await
                .map_err(err)?;
            println!("Incident {number}: version {v} is published.");
            Ok(())
        }
        IncidentCommand::Notify {
            number,
            rate,
            limit,
            ..
        } => notify(app, number, rate, limit, &ctx).await,
        IncidentCommand::Export {
            number,
            version,
            out,
            ..
        } => {
            let export = app.incident_export(number, version).await.map_err(err)?;
            create_private_dir(&out)?;
            let stem = format!("incident-{number}-v{}", export.version);
            let json = serde_json::to_vec_pretty(&export).map_err(err)?;
            write_private(&out.join(format!("{stem}.json")), &json)?;
            write_private(&out.join(format!("{stem}.csv")), export.to_csv().as_bytes())?;
            let mut counts = String::from("kind,key,name,patients,documents,accesses\n");
            for (kind, list) in [
                ("practice", &export.by_practice),
                ("region", &export.by_region),
            ] {
                for c in list {
                    counts.push_str(&format!(
                        "{kind},{},{},{},{},{}\n",
                        c.key,
                        c.name.replace(',', " "),
                        c.patients,
                        c.documents,
                        c.accesses
                    ));
                }
            }
            write_private(&out.join(format!("{stem}-counts.csv")), counts.as_bytes())?;
            println!(
                "Wrote {stem}.json, {stem}.csv and {stem}-counts.csv to {} ({} accesses, each \
                 with its proof).",
                out.display(),
                export.rows.len()
            );
            Ok(())
        }
        IncidentCommand::Report { number, out, .. } => {
            let incident = app.incident(number).await.map_err(err)?;
            let export = app
                .incident_export(number, incident.published_version)
                .await
                .map_err(err)?;
            create_private_dir(&out)?;
            for c in &export.by_practice {
                let practice = c
                    .key
                    .parse()
                    .map_err(|_| format!("bad practice id {}", c.key))?;
                let text = app.practice_summary(&export, practice).await.map_err(err)?;
                write_private(
                    &out.join(format!("incident-{number}-practice-{}.md", c.key)),
                    text.as_bytes(),
                )?;
            }
            let counts = app.store().notice_counts(number).await.map_err(err)?;
            let report =
                regulator_report(&export, incident.opened_at, incident.published_at, &counts);
            write_private(
                &out.join(format!("incident-{number}-regulator-draft.md")),
                report.as_bytes(),
            )?;
            println!(
                "Wrote {} practice summaries and the regulator draft to {}.",
                export.by_practice.len(),
                out.display()
            );
            Ok(())
        }
        IncidentCommand::Verify { .. } => run_offline(&command),
    }
}

async fn notify(
    app: &Tiaki,
    number: u64,
    rate: u32,
    limit: Option<u64>,
    ctx: &RequestContext,
) -> Result<(), String> {
    let incident = app.incident(number).await.map_err(err)?;
    let total = app
        .incident_scopes(number)
        .await
        .map_err(err)?
        .iter()
        .find(|s| Some(s.version) == incident.published_version)
        .map_or(0, |s| s.patients);
    let mut bar = Progress::new(&format!("incident {number}: rendering notices"), total);
    let mut on_queue = |done: u64, _total: u64| bar.advance(done.saturating_sub(bar.done()));
    let queued = app
        .notices_queue(number, &mut on_queue, ctx)
        .await
        .map_err(err)?;
    bar.finish();
    println!(
        "Queued {} new notices ({} patients in version {}).",
        queued.added, queued.patients, queued.version
    );
    let counts = app.store().notice_counts(number).await.map_err(err)?;
    let mut bar = Progress::new(
        &format!("incident {number}: sending notices"),
        counts.total(),
    );
    let mut on_send = |done: u64, _total: u64| bar.advance(done.saturating_sub(bar.done()));
    let run = NoticeRun {
        per_second: rate,
        limit,
    };
    let sent = app
        .notices_send(number, run, &mut on_send, ctx)
        .await
        .map_err(err)?;
    bar.finish();
    println!(
        "Sent {} notices this run ({} were already in the outbox, {} failed); {} of {} finished.",
        sent.sent, sent.already_delivered, sent.failed, sent.finished, sent.total
    );
    Ok(())
}

pub async fn contain(app: &Tiaki, command: ContainCommand) -> Result<(), String> {
    let ctx = RequestContext::default();
    match command {
        ContainCommand::Sessions {
            accounts, everyone, ..
        } => {
            if everyone != accounts.is_empty() {
                return Err("name accounts with --account, or give --everyone (not both)".into());
            }
            let ids = resolve(app, &accounts).await?;
            let revoked = app
                .revoke_sessions((!everyone).then_some(ids.as_slice()), &ctx)
                .await
                .map_err(err)?;
            println!("Revoked {revoked} sessions.");
            Ok(())
        }
        ContainCommand::Reset {
            mut accounts,
            accounts_file,
            ..
        } => {
            if let Some(file) = accounts_file {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                accounts.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(str::to_owned),
                );
            }
            if accounts.is_empty() {
                return Err("name the accounts with --account or --accounts-file".into());
            }
            // Every name is checked before anything changes.
            let ids = resolve(app, &accounts).await?;
            let done = app.force_password_reset(&ids, &ctx).await.map_err(err)?;
            println!(
                "Forced a password reset for {} accounts; {} were emailed a link (the rest \
                 have no verified address: their practice resets them).",
                done.changed, done.emailed
            );
            Ok(())
        }
        ContainCommand::Module {
            module,
            state,
            reason,
            ..
        } => crate::guard::set_switch(app, &module, &state, &reason, &ctx).await,
    }
}

/// Account ids for names (usernames or ids), all checked before anything changes.
async fn resolve(app: &Tiaki, names: &[String]) -> Result<Vec<AccountId>, String> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let id = app
            .resolve_actor(name)
            .await
            .map_err(|e| format!("{e}; nothing was changed"))?;
        ids.push(id);
    }
    Ok(ids)
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Exports name patients: written owner-only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
