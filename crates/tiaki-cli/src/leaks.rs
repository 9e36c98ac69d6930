//! `tiaki leak …`: tracing leaked files, run on the server with its database and keys.
//!
//! `match DIR` reads each file in a directory and reports the document, patient and
//! practice it is, and — where a mark survives — the download it came from (access id,
//! account, session, time), with how it matched. `index` reports how many documents
//! have fingerprints and lists those still without (stored before fingerprints were
//! kept; each is fingerprinted when it is next read, since only a read under the one
//! policy, with its audit receipt, may decrypt it).

use crate::config::ConfigArgs;
use crate::progress::Progress;
use clap::Subcommand;
use serde::Serialize;
use std::path::{Path, PathBuf};
use tiaki_core::Tiaki;
use tiaki_core::leaks::{LeakReport, MarkReport};
use tiaki_domain::DocumentId;

/// Files larger than this are reported, not read.
const MAX_FILE: u64 = 512 * 1024 * 1024;
/// Documents listed per page of the index walk.
const INDEX_PAGE: u32 = 500;

#[derive(Subcommand)]
pub enum LeakCommand {
    /// Match the files in a directory to documents, patients, practices and downloads.
    Match {
        #[command(flatten)]
        config: ConfigArgs,
        /// The directory of leaked files (not searched recursively).
        dir: PathBuf,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Fingerprint coverage, and the documents still without fingerprints (one id per
    /// line on standard output; `--after ID` resumes a walk).
    Index {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        after: Option<String>,
    },
}

impl LeakCommand {
    pub fn config(&self) -> &ConfigArgs {
        match self {
            Self::Match { config, .. } | Self::Index { config, .. } => config,
        }
    }
}

/// One file's result, as printed.
#[derive(Debug, Serialize)]
struct FileResult {
    file: String,
    /// `matched`, `unmatched` or `unreadable`.
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(flatten)]
    report: Option<LeakReport>,
}

pub async fn run(app: &Tiaki, command: LeakCommand) -> Result<(), String> {
    match command {
        LeakCommand::Match { dir, json, .. } => match_dir(app, &dir, json).await,
        LeakCommand::Index { after, .. } => index(app, after.as_deref()).await,
    }
}

async fn match_dir(app: &Tiaki, dir: &Path, json: bool) -> Result<(), String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut progress = Progress::new("matching", files.len() as u64);
    let mut results = Vec::with_capacity(files.len());
    for path in files {
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let read = std::fs::metadata(&path)
            .map_err(|e| e.to_string())
            .and_then(|m| {
                if m.len() > MAX_FILE {
                    Err(format!("larger than {} MiB", MAX_FILE >> 20))
                } else {
                    std::fs::read(&path).map_err(|e| e.to_string())
                }
            });
        let result = match read {
            Err(error) => FileResult {
                file,
                result: "unreadable",
                error: Some(error),
                report: None,
            },
            Ok(bytes) => {
                let report = app.match_leak(bytes).await.map_err(|e| e.to_string())?;
                FileResult {
                    file,
                    result: if report.matched() {
                        "matched"
                    } else {
                        "unmatched"
                    },
                    error: None,
                    report: Some(report),
                }
            }
        };
        results.push(result);
        progress.advance(1);
    }
    progress.finish();
    if json {
        let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print_table(&results);
    }
    Ok(())
}

fn print_table(results: &[FileResult]) {
    let header = [
        "FILE", "RESULT", "DOCUMENT", "PATIENT", "PRACTICE", "ACCESS", "ACTOR", "ROLE", "SESSION",
        "TIME", "HOW",
    ];
    let mut rows: Vec<[String; 11]> = Vec::new();
    for r in results {
        let Some(report) = &r.report else {
            rows.push(row(&r.file, r.result, None, None, r.error.as_deref()));
            continue;
        };
        if report.documents.is_empty() {
            let note = report
                .marks
                .iter()
                .find(|m| !m.verified)
                .map(|m| format!("reference {} not verifiable", m.reference));
            rows.push(row(&r.file, r.result, None, None, note.as_deref()));
        }
        for doc in &report.documents {
            // The verified access to this document, if the file carries one.
            let mark = report.marks.iter().find(|m| {
                m.verified
                    && m.access
                        .as_ref()
                        .is_some_and(|a| a.document == Some(doc.document))
            });
            let how: Vec<&str> = doc.how.iter().map(|h| h.as_str()).collect();
            let mut cells = row(&r.file, r.result, Some(doc), mark, None);
            if let Some(cell) = cells.last_mut() {
                *cell = how.join("+");
            }
            rows.push(cells);
        }
        for m in report.marks.iter().filter(|m| !m.verified) {
            if !report.documents.is_empty() {
                rows.push(row(
                    &r.file,
                    "forged",
                    None,
                    None,
                    Some(&format!("reference {} not verifiable", m.reference)),
                ));
            }
        }
    }
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        cells
            .iter()
            .zip(widths.iter())
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!("{}", line(&header));
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        println!("{}", line(&cells));
    }
}

fn row(
    file: &str,
    result: &str,
    doc: Option<&tiaki_core::leaks::DocumentMatch>,
    mark: Option<&MarkReport>,
    note: Option<&str>,
) -> [String; 11] {
    let access = mark.and_then(|m| m.access.as_ref());
    let practice = doc.map(|d| {
        d.practice_name
            .clone()
            .unwrap_or_else(|| d.practice.to_string())
    });
    [
        file.to_owned(),
        result.to_owned(),
        doc.map(|d| d.document.to_string()).unwrap_or_default(),
        doc.map(|d| d.patient.to_string()).unwrap_or_default(),
        practice.unwrap_or_default(),
        access.map(|a| a.access_id.to_string()).unwrap_or_default(),
        access
            .and_then(|a| a.actor)
            .map(|a| a.to_string())
            .unwrap_or_default(),
        access.map(|a| a.role.clone()).unwrap_or_default(),
        access
            .and_then(|a| a.session)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        access.map(|a| a.at_rfc3339()).unwrap_or_default(),
        note.unwrap_or_default().to_owned(),
    ]
}

async fn index(app: &Tiaki, after: Option<&str>) -> Result<(), String> {
    let mut after: Option<DocumentId> = after
        .map(|a| a.parse().map_err(|_| format!("'{a}' is not a document id")))
        .transpose()?;
    let coverage = app
        .fingerprint_coverage()
        .await
        .map_err(|e| e.to_string())?;
    let pending = coverage.documents.saturating_sub(coverage.fingerprinted);
    eprintln!(
        "{} of {} documents have fingerprints; {pending} are fingerprinted when next read",
        coverage.fingerprinted, coverage.documents
    );
    let mut progress = Progress::new("listing", pending);
    loop {
        let page = app
            .documents_unfingerprinted(after, INDEX_PAGE)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = page.last().copied() else {
            break;
        };
        for id in &page {
            println!("{id}");
        }
        progress.advance(page.len() as u64);
        after = Some(last);
    }
    progress.finish();
    Ok(())
}
