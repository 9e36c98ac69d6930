//! `tiaki keys …`: the key-encryption keys, from the server's console. `status` shows
//! the versions held and how many rows each wraps; `rotate` adds a version and moves
//! every row to it while servers keep serving, then retires the old one; `retire` is
//! that last step on its own. Both are resumable and audited (see `tiaki_core::keys`).

use crate::config::ConfigArgs;
use crate::progress::Progress;
use clap::Subcommand;
use std::time::Duration;
use tiaki_core::Tiaki;
use tiaki_core::keys::{RotateOptions, RotationEvent};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Versions held, the active one, rows per version, and the servers using them.
    Status {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Add a new key version and re-wrap every key and sealed secret under it, online;
    /// then retire the old version. Run it again after an interruption: it carries on.
    Rotate {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        pace: Pace,
    },
    /// Remove old versions from the keyring, once a count shows no row needs them.
    Retire {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        pace: Pace,
    },
}

#[derive(clap::Args)]
pub struct Pace {
    /// Rows per batch (one transaction each).
    #[arg(long, default_value_t = 500)]
    batch: u32,
    /// Pause between batches, in milliseconds, to go gently on a busy database.
    #[arg(long, default_value_t = 0)]
    pause_ms: u64,
    /// How long to wait for every running server to take up the new version.
    #[arg(long, default_value_t = 120)]
    server_wait_seconds: u64,
}

impl Pace {
    fn options(&self) -> Result<RotateOptions, String> {
        if self.batch == 0 || self.batch > 10_000 {
            return Err("--batch must be between 1 and 10000".into());
        }
        Ok(RotateOptions {
            batch: self.batch,
            pause: Duration::from_millis(self.pause_ms),
            server_wait: Duration::from_secs(self.server_wait_seconds),
            ..RotateOptions::default()
        })
    }
}

impl KeysCommand {
    pub fn config(&self) -> &ConfigArgs {
        match self {
            Self::Status { config } | Self::Rotate { config, .. } | Self::Retire { config, .. } => {
                config
            }
        }
    }
}

pub async fn run(app: &Tiaki, command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Status { .. } => status(app).await,
        KeysCommand::Rotate { pace, .. } => {
            let options = pace.options()?;
            let mut console = Console::default();
            let report = app
                .rotate_keys(&options, &mut |e| console.show(e))
                .await
                .map_err(|e| e.to_string())?;
            console.close();
            let retired: Vec<String> = report.retired.iter().map(ToString::to_string).collect();
            println!(
                "{} key version {}: re-wrapped {} patient keys and {} sealed secrets in {:.1} s; \
                 retired version(s): {}.",
                if report.resumed {
                    "Finished the rotation to"
                } else {
                    "Rotated to"
                },
                report.version,
                report.patient_keys,
                report.sealed_secrets,
                report.elapsed.as_secs_f64(),
                if retired.is_empty() {
                    "none".to_owned()
                } else {
                    retired.join(", ")
                }
            );
            Ok(())
        }
        KeysCommand::Retire { pace, .. } => {
            let options = pace.options()?;
            let mut console = Console::default();
            let retired = app
                .retire_keys(&options, &mut |e| console.show(e))
                .await
                .map_err(|e| e.to_string())?;
            console.close();
            if retired.is_empty() {
                println!("Nothing to retire: the keyring holds only the active version.");
            } else {
                let list: Vec<String> = retired.iter().map(ToString::to_string).collect();
                println!("Retired key version(s) {}.", list.join(", "));
            }
            Ok(())
        }
    }
}

async fn status(app: &Tiaki) -> Result<(), String> {
    let s = app.key_status().await.map_err(|e| e.to_string())?;
    println!("keyring {}", s.source);
    println!("active {}", s.active);
    for v in &s.versions {
        let mut marks = Vec::new();
        marks.push(if v.held { "held" } else { "missing" });
        if v.active {
            marks.push("active");
        }
        if v.retired {
            marks.push("retired");
        }
        println!(
            "version {} {} patient_keys={} sealed_secrets={}",
            v.version,
            marks.join(","),
            v.patient_keys,
            v.sealed_secrets
        );
    }
    for n in &s.nodes {
        let held: Vec<String> = n.held.iter().map(ToString::to_string).collect();
        println!(
            "server {} active={} holds={} seen={}",
            n.node,
            n.active,
            held.join(","),
            n.seen_at
        );
    }
    Ok(())
}

/// Shows a rotation's events: a line per step and a progress bar while rows move.
#[derive(Default)]
struct Console {
    bar: Option<Progress>,
}

impl Console {
    fn show(&mut self, event: RotationEvent) {
        match event {
            RotationEvent::Began { version } => {
                println!("Added key version {version}; it wraps every new key from now on.");
            }
            RotationEvent::Resumed { version } => {
                println!("Carrying on with the rotation to key version {version}.");
            }
            RotationEvent::WaitingForServers { behind } => {
                eprintln!("Waiting for {behind} server(s) to take up the new key version…");
            }
            RotationEvent::ServersReady { servers } => {
                println!("Every running server ({servers}) wraps with the new version.");
            }
            RotationEvent::Fenced { versions } => {
                let list: Vec<String> = versions.iter().map(ToString::to_string).collect();
                println!(
                    "Version(s) {} retired in the database: nothing new is written under them.",
                    list.join(", ")
                );
            }
            RotationEvent::Rewrapping { what, total } => {
                self.close();
                self.bar = Some(Progress::new(&format!("re-wrapping {what}"), total));
            }
            RotationEvent::Rewrapped { n } => {
                if let Some(bar) = self.bar.as_mut() {
                    bar.advance(n);
                }
            }
            RotationEvent::RewrapDone { .. } => self.close(),
            RotationEvent::Retired { versions } => {
                let list: Vec<String> = versions.iter().map(ToString::to_string).collect();
                println!(
                    "Removed version(s) {} from the keyring: no row needs them.",
                    list.join(", ")
                );
            }
        }
    }

    fn close(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}
