//! `tiaki-bench`: Tiaki's benchmarks, run by hand, never by `cargo test`.
//!
//! - `w1`: authorised, audited, decrypted `GET` of 64 KiB documents, at random over a
//!   few thousand documents, against nginx serving the same plaintext from disk. Same
//!   machine, same load generator (wrk), interleaved rounds; reported as a ratio.
//! - `components`: what one such read is made of (the durable audit append, the row
//!   lookups, the blob read, key unwrapping and decryption, the bare HTTP stack), timed
//!   one by one, to say where W1's time goes.
//!
//! Results and how to read them are kept in `BENCHMARKS.md` at the repository root.

mod components;
mod cpu;
mod incidents;
mod machine;
mod nginx;
mod rotate;
mod stats;
mod w1;
mod w6;
mod world;
mod wrk;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// Every error is reported once, in `main`, as text.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error with a message.
pub fn fail(message: impl Into<String>) -> Error {
    message.into().into()
}

#[derive(Parser, Debug)]
#[command(name = "tiaki-bench", about = "Tiaki's benchmarks (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// W1: audited, decrypted 64 KiB document reads against nginx, as a ratio.
    W1(W1Args),
    /// The cost of each step of one W1 read, measured on its own.
    Components(ComponentArgs),
    /// W6: sign-in throughput against the Argon2 ceiling measured in the same run.
    W6(W6Args),
    /// Key rotation: keys re-wrapped per second by `tiaki keys rotate`'s engine.
    Rotate(RotateArgs),
    /// Breach response at scale: scoping an incident and queueing its notices.
    Incidents(IncidentArgs),
}

/// Which database Tiaki runs on.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (WAL, synchronous=FULL) in the temporary data directory.
    Sqlite,
    /// A fresh database on the PostgreSQL that `TIAKI_TEST_PG_URL` names (default
    /// `postgres://postgres@127.0.0.1:5432/postgres`).
    Postgres,
    /// SQLite, then PostgreSQL.
    Both,
}

impl Backend {
    fn each(self) -> Vec<Self> {
        match self {
            Self::Both => vec![Self::Sqlite, Self::Postgres],
            one => vec![one],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Both => "both",
        }
    }
}

/// The data set both benchmarks seed.
#[derive(Args, Debug, Clone)]
pub struct SeedArgs {
    /// Documents to seed (64 KiB each, PNG); requests pick one at random.
    #[arg(long, default_value_t = 2000)]
    pub documents: usize,
    /// Documents per patient; all patients are at one practice, read by its clinician.
    #[arg(long, default_value_t = 10)]
    pub per_patient: usize,
    /// Bytes per document.
    #[arg(long, default_value_t = 64 * 1024)]
    pub size: usize,
}

#[derive(Args, Debug, Clone)]
pub struct W1Args {
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub backend: Backend,
    #[command(flatten)]
    pub seed: SeedArgs,
    /// Seconds per measured wrk run.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of unmeasured warm-up per server before the first round.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Measured rounds; each round runs nginx, then Tiaki.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// wrk connections (-c).
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// wrk threads (-t).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Before each run, wait up to this many seconds for the machine to be quiet
    /// (other work below 20 % of a core), so a build elsewhere does not skew a round.
    #[arg(long, default_value_t = 10)]
    pub settle: u64,
}

#[derive(Args, Debug, Clone)]
pub struct W6Args {
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub backend: Backend,
    /// Accounts signing in; each signs in once per recovery code it has.
    #[arg(long, default_value_t = 30)]
    pub accounts: usize,
    /// Sign-ins in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Argon2 verifications timed for the ceiling.
    #[arg(long, default_value_t = 20)]
    pub samples: usize,
    /// Seconds of document reads (wrk), alone and then during a sign-in storm.
    #[arg(long, default_value_t = 5)]
    pub read_seconds: u64,
}

#[derive(Args, Debug, Clone)]
pub struct RotateArgs {
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub backend: Backend,
    /// Patients, each with a wrapped key.
    #[arg(long, default_value_t = 5000)]
    pub patients: u64,
    /// Accounts, each with a sealed TOTP seed.
    #[arg(long, default_value_t = 1000)]
    pub secrets: u64,
    /// Rows per re-wrap batch (one transaction each).
    #[arg(long, default_value_t = 500)]
    pub batch: u32,
}

#[derive(Args, Debug, Clone)]
pub struct IncidentArgs {
    #[arg(long, value_enum, default_value_t = Backend::Postgres)]
    pub backend: Backend,
    /// Patients, each with one document the stolen account read.
    #[arg(long, default_value_t = 100_000)]
    pub patients: usize,
}

#[derive(Args, Debug, Clone)]
pub struct ComponentArgs {
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    pub backend: Backend,
    #[command(flatten)]
    pub seed: SeedArgs,
    /// Operations per sequential measurement.
    #[arg(long, default_value_t = 1000)]
    pub iterations: usize,
    /// Concurrent tasks for the concurrent measurements (W1's wrk connections).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds of wrk against the bare-HTTP floor (axum serving bytes from memory).
    #[arg(long, default_value_t = 5)]
    pub duration: u64,
    /// wrk threads (-t) for the bare-HTTP floor.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tiaki-bench: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome: Result<()> = runtime.block_on(async {
        match cli.command {
            Command::W1(args) => {
                for backend in args.backend.each() {
                    w1::run(backend, &args).await?;
                }
                Ok(())
            }
            Command::Components(args) => {
                for backend in args.backend.each() {
                    components::run(backend, &args).await?;
                }
                Ok(())
            }
            Command::W6(args) => {
                for backend in args.backend.each() {
                    w6::run(backend, &args).await?;
                }
                Ok(())
            }
            Command::Rotate(args) => {
                for backend in args.backend.each() {
                    rotate::run(backend, &args).await?;
                }
                Ok(())
            }
            Command::Incidents(args) => {
                for backend in args.backend.each() {
                    incidents::run(backend, &args).await?;
                }
                Ok(())
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tiaki-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
