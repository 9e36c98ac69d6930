//! Runs the real `tiaki` binary: `serve` on 127.0.0.1 port 0 with a data directory of
//! the test's own, waiting for its "listening" line; one-shot commands (`demo`,
//! `migrate`, `sweep`); and a seeded demo data directory made once per test run and
//! copied for each test, so sixty patients' worth of password hashing runs once.

use serde::Deserialize;
use std::ffi::OsString;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The binary under test.
pub const TIAKI: &str = env!("CARGO_BIN_EXE_tiaki");

/// Generous: several servers, a browser and a 200 MiB upload may share two cores.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// A `tiaki serve` process. Killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub base: String,
    pub data_dir: PathBuf,
    stdout: Arc<Mutex<Vec<String>>>,
    pub stderr_path: PathBuf,
}

/// Why a server did not come up.
#[derive(Debug)]
pub struct StartFailure {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

/// How to start one.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub data_dir: PathBuf,
    pub listen: String,
    pub demo: bool,
    pub args: Vec<OsString>,
    pub envs: Vec<(String, String)>,
}

impl ServerOptions {
    #[must_use]
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            listen: "127.0.0.1:0".to_owned(),
            demo: false,
            args: Vec::new(),
            envs: Vec::new(),
        }
    }

    #[must_use]
    pub fn demo(mut self) -> Self {
        self.demo = true;
        self
    }

    #[must_use]
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    #[must_use]
    pub fn listen(mut self, listen: &str) -> Self {
        listen.clone_into(&mut self.listen);
        self
    }

    pub fn start(&self) -> Server {
        match self.try_start() {
            Ok(server) => server,
            Err(f) => panic!(
                "the server did not start ({:?})\n--- stdout\n{}\n--- stderr\n{}",
                f.status, f.stdout, f.stderr
            ),
        }
    }

    /// Starts the server and waits until it says it is listening, or exits.
    pub fn try_start(&self) -> Result<Server, StartFailure> {
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let n = SERIAL.fetch_add(1, Ordering::SeqCst);
        // Logs go beside the data directory, not in it, so they never count as data.
        let stderr_path = self
            .data_dir
            .with_file_name(format!("server-{}-{n}.log", std::process::id()));
        let stderr_file = std::fs::File::create(&stderr_path).unwrap();
        let mut command = isolated(TIAKI);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(&self.listen);
        if self.demo {
            command.arg("--demo");
        }
        command
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr_file));
        let mut child = command.spawn().unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let pipe = child.stdout.take().unwrap();
        let lines = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line.clone());
                // The receiver is gone once the server is up; keep collecting anyway.
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("Tiaki is listening on http://") {
                        let addr: SocketAddr = rest.trim().parse().unwrap();
                        return Ok(Server {
                            child: Some(child),
                            addr,
                            base: format!("http://{addr}"),
                            data_dir: self.data_dir.clone(),
                            stdout,
                            stderr_path,
                        });
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stdout closed: the process has exited (or is about to).
                    let status = wait_with_timeout(&mut child, Duration::from_secs(30));
                    if status.is_none() {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    return Err(StartFailure {
                        status,
                        stdout: stdout.lock().unwrap().join("\n"),
                        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
                    });
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    return Err(StartFailure {
                        status,
                        stdout: stdout.lock().unwrap().join("\n"),
                        stderr: format!(
                            "(no 'listening' line within {START_TIMEOUT:?})\n{}",
                            std::fs::read_to_string(&stderr_path).unwrap_or_default()
                        ),
                    });
                }
            }
        }
    }
}

impl Server {
    /// The server's process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// Everything the server printed on stdout so far.
    #[must_use]
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    /// The server's log so far.
    #[must_use]
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGKILL: no shutdown hooks, no flushing — a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The server's demo logins (only for a demo data directory).
    #[must_use]
    pub fn logins(&self) -> Vec<DemoLogin> {
        DemoLogin::read(&self.data_dir)
    }

    /// An absolute URL on this server.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A command with no `TIAKI_*` settings inherited from whoever runs the tests.
fn isolated(program: &str) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TIAKI_") {
            command.env_remove(key);
        }
    }
    command.env("TIAKI_LOG", "info,tower_http=warn");
    command
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a one-shot command did.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `tiaki ARGS…` to completion (two minutes at most).
pub fn run_tiaki<I, S>(args: I) -> Ran
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = isolated(TIAKI)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let Some(status) = wait_with_timeout(&mut child, Duration::from_secs(120)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("tiaki {args:?} did not finish within two minutes");
    };
    Ran {
        status,
        stdout: std::fs::read_to_string(out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(err_path).unwrap_or_default(),
    }
}

/// One entry of `demo-logins.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct DemoLogin {
    pub role: String,
    pub username: String,
    pub password: String,
    pub display_name: String,
    pub practice: Option<String>,
    pub practice_id: Option<String>,
    pub patient_id: Option<String>,
    /// The account's authenticator seed (base32).
    #[serde(default)]
    pub totp_secret: String,
    /// One-time recovery codes.
    #[serde(default)]
    pub recovery_codes: Vec<String>,
}

/// Second factors of every demo login read so far, by (username, password): each
/// seeded demo has its own random passwords, and copies of one seed share codes, so a
/// code handed out here has been used on no server yet.
static SECOND_FACTORS: Mutex<Vec<((String, String), DemoLogin)>> = Mutex::new(Vec::new());

/// A second factor for signing in: an unused recovery code while any is left, then
/// the authenticator's current code. `None` for a login this process never read.
#[must_use]
pub fn second_factor(username: &str, password: &str) -> Option<(&'static str, String)> {
    let mut known = SECOND_FACTORS.lock().ok()?;
    let (_, login) = known
        .iter_mut()
        .find(|((u, p), _)| u == username && p == password)?;
    if let Some(code) = login.recovery_codes.pop() {
        return Some(("recovery_code", code));
    }
    let login = login.clone();
    drop(known);
    Some(("totp", fresh_totp(&login)?))
}

/// The TOTP step last handed out per username, across this process.
static TOTP_STEPS: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

/// A current authenticator code for `login` from a 30-second step no earlier code for
/// this username came from: a server accepts each step once per account, and tests
/// running side by side sign the same demo accounts in. Waits for the next step when
/// this one is taken.
#[must_use]
pub fn fresh_totp(login: &DemoLogin) -> Option<String> {
    let secret = tiaki_crypto::TotpSecret::from_base32(&login.totp_secret)?;
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        let step = now / 30;
        {
            let mut steps = TOTP_STEPS.lock().ok()?;
            match steps.iter_mut().find(|(u, _)| *u == login.username) {
                Some((_, last)) if *last >= step => {}
                Some((_, last)) => {
                    *last = step;
                    return secret.code_at(now).ok();
                }
                None => {
                    steps.push((login.username.clone(), step));
                    return secret.code_at(now).ok();
                }
            }
        }
        std::thread::sleep(Duration::from_secs((step + 1) * 30 - now) + Duration::from_millis(200));
    }
}

impl DemoLogin {
    #[must_use]
    pub fn read(data_dir: &Path) -> Vec<Self> {
        let text = std::fs::read_to_string(data_dir.join("demo-logins.json")).unwrap();
        let logins: Vec<Self> = serde_json::from_str(&text).unwrap();
        let mut known = SECOND_FACTORS.lock().unwrap();
        for login in &logins {
            let key = (login.username.clone(), login.password.clone());
            if !known.iter().any(|(k, _)| *k == key) {
                known.push((key, login.clone()));
            }
        }
        logins
    }

    /// The patient id of a patient login.
    #[must_use]
    pub fn patient(&self) -> &str {
        self.patient_id.as_deref().expect("a patient login")
    }

    /// A patient's family name: the demo's given names are one word, family names may
    /// be two ("Te Rangi").
    #[must_use]
    pub fn family_name(&self) -> &str {
        self.display_name
            .split_once(' ')
            .map_or(self.display_name.as_str(), |(_, family)| family)
    }
}

/// Finds logins.
pub trait Logins {
    fn by_username(&self, username: &str) -> &DemoLogin;
    fn patients(&self) -> Vec<&DemoLogin>;
    fn patients_of(&self, practice_id: &str) -> Vec<&DemoLogin>;
}

impl Logins for [DemoLogin] {
    fn by_username(&self, username: &str) -> &DemoLogin {
        self.iter()
            .find(|l| l.username == username)
            .unwrap_or_else(|| panic!("no demo login {username}"))
    }

    fn patients(&self) -> Vec<&DemoLogin> {
        self.iter().filter(|l| l.role == "patient").collect()
    }

    fn patients_of(&self, practice_id: &str) -> Vec<&DemoLogin> {
        self.iter()
            .filter(|l| l.role == "patient" && l.practice_id.as_deref() == Some(practice_id))
            .collect()
    }
}

/// A fresh copy of a seeded demo data directory at `dest` (which must not exist).
/// The seed is made once per test run with `tiaki demo`.
pub fn demo_copy(dest: &Path) {
    let template = demo_template();
    copy_dir(&template, dest);
}

fn demo_template() -> PathBuf {
    static TEMPLATE: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut slot = TEMPLATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(path) = slot.as_ref() {
        return path.clone();
    }
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    remove_stale_templates(&root);
    let path = root.join(format!("e2e-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    let ran = run_tiaki([
        OsString::from("demo"),
        OsString::from("--data-dir"),
        path.clone().into_os_string(),
    ]);
    assert!(
        ran.status.success(),
        "tiaki demo failed: {}\n{}",
        ran.stdout,
        ran.stderr
    );
    assert!(path.join("demo-logins.json").is_file());
    *slot = Some(path.clone());
    path
}

/// Templates of earlier runs (whose process is gone) are removed.
fn remove_stale_templates(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("e2e-demo-")
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new().mode(0o700).create(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            // `fs::copy` keeps the permission bits: the keyring stays 0600.
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every regular file under `dir`, recursively.
#[must_use]
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => out.extend(files_under(&path)),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
    out.sort();
    out
}
