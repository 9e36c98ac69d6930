//! What the drills share: a webhook receiver for the guard's alerts, a drill server (a
//! demo copy, or a configuration of one's own, with `[core.guard]` settings), clients
//! that come from a loopback address of their own (the guard counts per address too),
//! and the one-line report.

use crate::e2e::api::{Api, sign_in};
use crate::e2e::server::{DemoLogin, Logins as _, Server, ServerOptions, demo_copy, run_tiaki};
use futures::StreamExt as _;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A webhook receiver on a loopback port: keeps every JSON body POSTed to it, with when
/// it arrived. Plain HTTP/1.1 with keep-alive, enough for the guard's alert sink.
pub struct Hook {
    pub url: String,
    bodies: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Hook {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let _ = receive(stream, kept).await;
                });
            }
        });
        Self {
            url: format!("http://{addr}/hook"),
            bodies,
        }
    }

    /// When the first alert that `pick` accepts arrived, waiting up to ten seconds.
    pub async fn wait_for(&self, pick: impl Fn(&Value) -> bool) -> Option<Instant> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some((at, _)) = self.bodies.lock().unwrap().iter().find(|(_, b)| pick(b)) {
                return Some(*at);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// When the critical alert of a containment of `account` arrived.
    pub async fn containment_of(&self, account: &str) -> Option<Instant> {
        self.wait_for(|b| {
            b["account"].as_str() == Some(account)
                && b["severity"] == "critical"
                && b["containment"].is_string()
        })
        .await
    }

    pub fn count(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }
}

async fn receive(
    mut stream: tokio::net::TcpStream,
    kept: Arc<Mutex<Vec<(Instant, Value)>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Vec<u8> = buf.drain(..head_end + length).skip(head_end).collect();
        if let Ok(value) = serde_json::from_slice(&body) {
            kept.lock().unwrap().push((Instant::now(), value));
        }
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            .await?;
    }
}

/// A loopback address of its own for one actor: 127.<a>.<b>.<c>.
#[must_use]
pub fn address(a: u8, b: u8, c: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, a, b, c))
}

/// A client whose connections come from `from`; it follows no redirects (a signed-out
/// page answers 303 to the sign-in page, which the drills count as stopped).
#[must_use]
pub fn client_from(from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Signs `username` in through the API from `from`.
pub async fn login(server_base: &str, logins: &[DemoLogin], username: &str, from: IpAddr) -> Api {
    let l = logins.by_username(username);
    sign_in(&client_from(from), server_base, &l.username, &l.password)
        .await
        .unwrap_or_else(|e| panic!("{username} could not sign in: {e}"))
}

/// The account id of a signed-in caller.
pub async fn account_of(api: &Api) -> String {
    api.get_json("/api/v1/me").await["account_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A drill's server: its own copy of the demo, a webhook for its alerts, and
/// `[core.guard]` settings of its own.
pub struct DrillServer {
    pub server: Server,
    pub hook: Hook,
    pub logins: Vec<DemoLogin>,
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

impl DrillServer {
    /// A demo copy served with `guard_toml` (lines of `[core.guard]`) and the webhook.
    pub async fn start(guard_toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        demo_copy(&data);
        let hook = Hook::start().await;
        let config = dir.path().join("tiaki.toml");
        std::fs::write(
            &config,
            format!(
                "[core.guard]\nwebhook_url = \"{}\"\n{guard_toml}\n",
                hook.url
            ),
        )
        .unwrap();
        // `--demo` on a seeded copy seeds nothing more; it lets the demo's staff use
        // their authenticator app.
        let server = ServerOptions::new(&data)
            .demo()
            .arg("--config")
            .arg(&config)
            .start();
        let logins = server.logins();
        Self {
            server,
            hook,
            logins,
            config,
            _dir: dir,
        }
    }

    #[must_use]
    pub fn base(&self) -> &str {
        &self.server.base
    }

    pub async fn login(&self, username: &str, from: IpAddr) -> Api {
        login(self.base(), &self.logins, username, from).await
    }

    /// The decoys, from `tiaki guard canaries`.
    pub async fn canaries(&self) -> Vec<Canary> {
        canaries(&[
            "--data-dir".into(),
            self.server.data_dir.clone().into_os_string(),
            "--config".into(),
            self.config.clone().into_os_string(),
        ])
        .await
    }

    /// The guard's overview, as the platform operator sees it.
    pub async fn overview(&self) -> Value {
        overview(&self.login("operator", address(9, 9, 9)).await).await
    }
}

pub async fn overview(operator: &Api) -> Value {
    operator.get_json("/api/v1/guard").await
}

/// The containments in an overview (active or not).
#[must_use]
pub fn containments(overview: &Value) -> Vec<Value> {
    overview["containments"].as_array().unwrap().clone()
}

/// Which detector contained `account`, if anything did.
#[must_use]
pub fn detector_of(overview: &Value, account: &str) -> Option<String> {
    containments(overview)
        .iter()
        .find(|c| c["account"].as_str() == Some(account))
        .map(|c| c["detector"].as_str().unwrap().to_owned())
}

/// One decoy, as `tiaki guard canaries` lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Canary {
    pub kind: String,
    pub id: String,
    pub practice: String,
}

/// Runs `tiaki guard canaries ARGS…` and parses its lines.
pub async fn canaries(args: &[std::ffi::OsString]) -> Vec<Canary> {
    let mut all: Vec<std::ffi::OsString> = vec!["guard".into(), "canaries".into()];
    all.extend(args.iter().cloned());
    let ran = tokio::task::spawn_blocking(move || run_tiaki(all))
        .await
        .unwrap();
    assert!(
        ran.status.success(),
        "tiaki guard canaries failed: {}\n{}",
        ran.stdout,
        ran.stderr
    );
    ran.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// A small valid PDF.
#[must_use]
pub fn pdf(marker: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {marker}\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n").into_bytes()
}

/// Adds `per_patient` documents to each patient, as a clinical staff member of their
/// practice would (uploads are not reads: the guard does not count them).
pub async fn add_documents(uploader: &Api, patients: &[String], per_patient: usize) {
    let jobs: Vec<(String, usize)> = patients
        .iter()
        .flat_map(|p| (0..per_patient).map(move |n| (p.clone(), n)))
        .collect();
    futures::stream::iter(jobs)
        .for_each_concurrent(4, |(patient, n)| async move {
            let file = crate::e2e::api::NewFile {
                title: "Letter from the hospital",
                kind: Some("referral_letter"),
                filename: "letter.pdf",
                mime: "application/pdf",
                bytes: pdf(&format!("extra {n}")),
            };
            let (status, body) = uploader.upload(&patient, file).await.unwrap();
            assert_eq!(status, 201, "setup upload: {body}");
        })
        .await;
}

/// The patient ids of a practice (by its demo logins).
#[must_use]
pub fn patients_of(logins: &[DemoLogin], practice_id: &str) -> Vec<String> {
    logins
        .patients_of(practice_id)
        .iter()
        .map(|l| l.patient().to_owned())
        .collect()
}

/// One drill's figures, printed as one line.
#[derive(Debug, Clone)]
pub struct Report {
    pub n: &'static str,
    pub name: &'static str,
    pub served: u64,
    pub contained_after: Option<Duration>,
    pub alert: Option<bool>,
    pub extra: Vec<(&'static str, String)>,
}

impl Report {
    #[must_use]
    pub fn line(&self) -> String {
        let contained = self
            .contained_after
            .map_or_else(|| "-".to_owned(), |d| format!("{:.2}", d.as_secs_f64()));
        let alert = match self.alert {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        let mut line = format!(
            "DRILL {} {}: served={} contained_after_s={contained} alert={alert}",
            self.n, self.name, self.served
        );
        for (k, v) in &self.extra {
            line.push_str(&format!(" {k}={v}"));
        }
        line
    }

    /// Prints the line, and appends it to `$TIAKI_DRILL_REPORT` if that is set.
    pub fn print(&self) {
        let line = self.line();
        println!("{line}");
        if let Ok(path) = std::env::var("TIAKI_DRILL_REPORT") {
            use std::io::Write as _;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
    }
}

/// Seconds, for a report.
#[must_use]
pub fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}
