//! Reading what Tiaki sent: the `.eml` files of an outbox directory (or a Maildir's
//! `new/`), decoded from quoted-printable, and the one-time links inside them.

use super::harness::{Backend, World};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tiaki_core::CoreConfig;

/// A world whose email goes to an outbox directory the test can read.
pub struct Mailed {
    pub world: World,
    pub outbox: PathBuf,
    _dir: TempDir,
}

pub async fn world_with_outbox() -> Mailed {
    world_with_outbox_config(CoreConfig::default()).await
}

pub async fn world_with_outbox_config(mut config: CoreConfig) -> Mailed {
    let dir = TempDir::new().unwrap();
    let outbox = dir.path().join("outbox");
    config.mail.outbox_dir = Some(outbox.clone());
    config.mail.public_url = Some("https://portal.example".to_owned());
    let world = World::start_with(Backend::Sqlite, config).await;
    Mailed {
        world,
        outbox,
        _dir: dir,
    }
}

/// Undoes quoted-printable: soft line breaks and `=XX` escapes.
pub fn decode_qp(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && joined.is_char_boundary(i + 3)
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every message in `dir` (files, any name), decoded, oldest first.
pub fn messages(dir: &Path) -> Vec<String> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| (e.metadata().and_then(|m| m.modified()).unwrap(), e.path()))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|(_, p)| decode_qp(&std::fs::read_to_string(p).unwrap_or_default()))
        .collect()
}

/// Messages to `to` (the `To:` header contains it).
pub fn messages_to(dir: &Path, to: &str) -> Vec<String> {
    messages(dir)
        .into_iter()
        .filter(|m| {
            m.lines()
                .take_while(|l| !l.is_empty() && *l != "\r")
                .any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to))
        })
        .collect()
}

/// Waits until there are at least `n` messages to `to` whose text contains `needle`;
/// returns them, oldest first.
pub async fn wait_for(dir: &Path, to: &str, needle: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found: Vec<String> = messages_to(dir, to)
            .into_iter()
            .filter(|m| m.contains(needle))
            .collect();
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no {n} message(s) to {to} containing {needle:?}; the outbox has:\n{:#?}",
            messages(dir)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first link in `message` whose path is `path`.
pub fn link(message: &str, path: &str) -> String {
    message
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(&format!("{path}?token=")))
        .unwrap_or_else(|| panic!("no {path} link in:\n{message}"))
        .to_owned()
}

/// The token a link carries.
pub fn token(link: &str) -> String {
    link.split_once("?token=").unwrap().1.to_owned()
}

/// The `Subject:` header.
pub fn subject(message: &str) -> String {
    message
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Every audit event's (action, outcome), in log order.
pub async fn audit_actions(world: &World) -> Vec<(String, String)> {
    let size = world.store.log_size().await.unwrap();
    world
        .store
        .log_entries(0, size)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.event.action, e.event.outcome.as_str().to_owned()))
        .collect()
}
