//! A real S3-compatible server per test: an `s3s-fs` process on a free port, serving a
//! temporary directory, killed and cleaned up on drop.

use crate::blob::S3Config;
use crate::error::StoreError;
use secrecy::SecretString;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

const BINARY: &str = "s3s-fs";
const INSTALL: &str = "cargo install s3s-fs --version 0.14.1 --features binary --locked";
const BUCKET: &str = "tiaki-test";
const REGION: &str = "us-east-1";
const ACCESS_KEY: &str = "tiaki-test-access";
const READY_WITHIN: Duration = Duration::from_secs(15);
const ATTEMPTS: usize = 3;

/// A running `s3s-fs` with one bucket. Dropping it kills the process and removes its
/// directory.
pub struct S3Server {
    child: Child,
    root: PathBuf,
    port: u16,
    secret: String,
}

impl fmt::Debug for S3Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Server")
            .field("port", &self.port)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl S3Server {
    /// Starts `s3s-fs` (from `PATH` or `~/.cargo/bin`) and waits until it answers.
    pub async fn start() -> Result<Self, StoreError> {
        let binary = find_binary().ok_or_else(|| {
            StoreError::Unavailable(format!(
                "{BINARY} is needed for this test and was not found on PATH or in \
                 ~/.cargo/bin; install it with `{INSTALL}`"
            ))
        })?;
        let root = std::env::temp_dir().join(format!("tiaki-s3s-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(root.join(BUCKET)).map_err(io("create the s3s-fs root"))?;
        let secret = Uuid::new_v4().simple().to_string();
        let mut last_error = String::new();
        // A free port can be taken between asking and binding; try again if so.
        for _ in 0..ATTEMPTS {
            let port = free_port()?;
            let mut child = Command::new(&binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", &secret])
                .arg(&root)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(io("spawn s3s-fs"))?;
            match wait_until_ready(&mut child, port).await {
                Ok(()) => {
                    return Ok(Self {
                        child,
                        root,
                        port,
                        secret,
                    });
                }
                Err(e) => {
                    last_error = e.to_string();
                    kill(&mut child);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&root);
        Err(StoreError::Unavailable(format!(
            "s3s-fs did not start: {last_error}"
        )))
    }

    /// How to reach the bucket.
    #[must_use]
    pub fn config(&self) -> S3Config {
        S3Config {
            endpoint: Some(format!("http://127.0.0.1:{}", self.port)),
            bucket: BUCKET.into(),
            region: REGION.into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SecretString::from(self.secret.clone()),
            allow_http: true,
        }
    }

    /// The directory the server serves: holds the bucket directory and its
    /// bookkeeping (pending multipart parts, metadata).
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory holding the bucket's objects, one file per key.
    #[must_use]
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.join(BUCKET)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        kill(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn wait_until_ready(child: &mut Child, port: u16) -> Result<(), StoreError> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    while started.elapsed() < READY_WITHIN {
        if let Some(status) = child.try_wait().map_err(io("watch s3s-fs"))? {
            return Err(StoreError::Unavailable(format!("s3s-fs exited: {status}")));
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(StoreError::Unavailable(
        "s3s-fs did not answer in time".into(),
    ))
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn find_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(BINARY));
    let cargo_home =
        std::env::var_os("CARGO_HOME").map(|h| PathBuf::from(h).join("bin").join(BINARY));
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin").join(BINARY));
    on_path.chain(cargo_home).chain(home).find(|p| p.is_file())
}

fn free_port() -> Result<u16, StoreError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("find a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("find a free port"))?
        .port())
}

fn io(doing: &'static str) -> impl Fn(std::io::Error) -> StoreError {
    move |e| StoreError::Unavailable(format!("cannot {doing}: {e}"))
}
