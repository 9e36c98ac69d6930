//! The scraper: an attacker holding a staff session who finds the practice's patients
//! by every two-letter name prefix and takes every document of each, through the JSON
//! API or the pages, until the server stops it.

use futures::StreamExt as _;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How a scraper reaches the portal: the JSON API with a bearer token, or the pages
/// with the session cookie, as a browser would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Api,
    Pages,
}

/// An attacker holding a staff session who takes every document of the practice.
pub struct Scraper {
    pub http: reqwest::Client,
    /// One base URL per web node; requests go round-robin.
    pub bases: Vec<String>,
    pub token: String,
    pub surface: Surface,
    /// Requests in flight at once while reading documents.
    pub concurrency: usize,
    /// Patient ids the scraper leaves alone (to measure the budget without the decoys).
    pub skip: HashSet<String>,
    /// Take the patients in an order shuffled with this seed (else as found).
    pub shuffle: Option<u64>,
}

/// What a scrape got.
#[derive(Debug, Clone, Default)]
pub struct Scraped {
    /// Documents whose content was served.
    pub served: u64,
    pub bytes: u64,
    pub patients_found: usize,
    pub requests: u64,
    /// From the first request to the first answer that showed the session stopped.
    pub stopped_after: Option<Duration>,
    /// The answer that showed it (403 frozen, 401, or 303 to the sign-in page).
    pub stopped_by: Option<String>,
}

struct Progress {
    started: Instant,
    served: AtomicU64,
    bytes: AtomicU64,
    requests: AtomicU64,
    next: AtomicUsize,
    stopped: AtomicBool,
    stopped_at: Mutex<Option<(Duration, String)>>,
}

impl Progress {
    fn stop(&self, why: String) {
        let mut at = self.stopped_at.lock().unwrap();
        if at.is_none() {
            *at = Some((self.started.elapsed(), why));
        }
        self.stopped.store(true, Ordering::SeqCst);
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }
}

/// Every two-letter name prefix: how a scraper without a patient list finds the list.
#[must_use]
pub fn prefixes() -> Vec<String> {
    let letters = 'a'..='z';
    letters
        .clone()
        .flat_map(|a| ('a'..='z').map(move |b| format!("{a}{b}")))
        .collect()
}

/// Fisher–Yates with xorshift64*: a reproducible order from a seed.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let j = usize::try_from(r % (i as u64 + 1)).unwrap();
        items.swap(i, j);
    }
}

/// A seed for a random choice: `TIAKI_DRILL_SEED`, else the clock.
#[must_use]
pub fn seed() -> u64 {
    std::env::var("TIAKI_DRILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            u64::try_from(now.as_nanos() % u128::from(u64::MAX)).unwrap()
        })
}

/// The uuids that follow `marker` in `text` (links in a page).
fn ids_after(text: &str, marker: &str) -> Vec<String> {
    text.split(marker)
        .skip(1)
        .filter_map(|rest| rest.get(..36))
        .filter(|id| uuid_like(id))
        .map(str::to_owned)
        .collect()
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl Scraper {
    fn base(&self, p: &Progress) -> &str {
        let n = p.next.fetch_add(1, Ordering::SeqCst);
        &self.bases[n % self.bases.len()]
    }

    /// One GET: the status and body, or `None` once the scraper has been stopped.
    async fn get(&self, p: &Progress, path: &str) -> Option<(u16, bytes::Bytes)> {
        if p.is_stopped() {
            return None;
        }
        let url = format!("{}{path}", self.base(p));
        let request = self.http.get(url);
        let request = match self.surface {
            Surface::Api => request.bearer_auth(&self.token),
            Surface::Pages => {
                request.header("cookie", format!("__Host-tiaki_session={}", self.token))
            }
        };
        p.requests.fetch_add(1, Ordering::SeqCst);
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        match status {
            200 => Some((status, body)),
            401 | 303 => {
                p.stop(format!("{status}"));
                None
            }
            403 => {
                let code = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["code"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "page".to_owned());
                p.stop(format!("403 {code}"));
                None
            }
            other => panic!(
                "the scraper got {other} for {path}: {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }

    async fn search(&self, p: &Progress, prefix: &str) -> Vec<String> {
        let path = match self.surface {
            Surface::Api => format!("/api/v1/patients?q={prefix}"),
            Surface::Pages => format!("/patients?q={prefix}"),
        };
        let Some((_, body)) = self.get(p, &path).await else {
            return Vec::new();
        };
        match self.surface {
            Surface::Api => serde_json::from_slice::<Vec<Value>>(&body)
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_owned())
                .collect(),
            Surface::Pages => ids_after(&String::from_utf8_lossy(&body), "href=\"/patients/"),
        }
    }

    async fn documents(&self, p: &Progress, patient: &str) -> Vec<String> {
        let path = match self.surface {
            Surface::Api => format!("/api/v1/patients/{patient}/documents"),
            Surface::Pages => format!("/patients/{patient}"),
        };
        let Some((_, body)) = self.get(p, &path).await else {
            return Vec::new();
        };
        let mut ids = match self.surface {
            Surface::Api => serde_json::from_slice::<Vec<Value>>(&body)
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_owned())
                .collect(),
            Surface::Pages => ids_after(&String::from_utf8_lossy(&body), "href=\"/documents/"),
        };
        let mut seen = HashSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        ids
    }

    async fn read(&self, p: &Progress, document: &str) {
        let path = match self.surface {
            Surface::Api => format!("/api/v1/documents/{document}/content"),
            Surface::Pages => format!("/documents/{document}/download"),
        };
        if let Some((_, body)) = self.get(p, &path).await {
            p.served.fetch_add(1, Ordering::SeqCst);
            p.bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
        }
    }

    /// Finds the practice's patients by every two-letter prefix, then lists and reads
    /// every document of each, until the server stops it.
    pub async fn run(&self) -> Scraped {
        let p = Progress {
            started: Instant::now(),
            served: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            next: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            stopped_at: Mutex::new(None),
        };
        let found: Vec<Vec<String>> = futures::stream::iter(prefixes())
            .map(|prefix| {
                let p = &p;
                async move { self.search(p, &prefix).await }
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        let mut seen = HashSet::new();
        let mut patients: Vec<String> = found
            .into_iter()
            .flatten()
            .filter(|id| seen.insert(id.clone()))
            .collect();
        if let Some(seed) = self.shuffle {
            shuffle(&mut patients, seed);
        }
        for patient in &patients {
            if self.skip.contains(patient) {
                continue;
            }
            let docs = self.documents(&p, patient).await;
            futures::stream::iter(docs)
                .for_each_concurrent(self.concurrency, |doc| {
                    let p = &p;
                    async move { self.read(p, &doc).await }
                })
                .await;
            if p.is_stopped() {
                break;
            }
        }
        let stopped = p.stopped_at.lock().unwrap().clone();
        Scraped {
            served: p.served.load(Ordering::SeqCst),
            bytes: p.bytes.load(Ordering::SeqCst),
            patients_found: patients.len(),
            requests: p.requests.load(Ordering::SeqCst),
            stopped_after: stopped.as_ref().map(|(d, _)| *d),
            stopped_by: stopped.map(|(_, why)| why),
        }
    }
}
