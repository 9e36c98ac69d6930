//! `tiaki audit export` and `tiaki audit verify`: take the log out of the database,
//! and check it with nothing but the file and a verifier key.

use std::io::Write as _;
use std::path::Path;
use tiaki_audit::verify::{self, ExportedEntry, FORMAT, Header, Line};
use tiaki_core::Tiaki;

const BATCH: u64 = 10_000;

/// Writes every event and checkpoint (after making a fresh checkpoint) to `out`.
pub async fn export(app: &Tiaki, out: &Path) -> Result<(), String> {
    let transparency = app.transparency();
    let latest = transparency
        .checkpoint()
        .await
        .map_err(|e| format!("cannot checkpoint the log: {e}"))?;
    let store = app.store();
    let file =
        std::fs::File::create(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let io = |e: std::io::Error| format!("writing {}: {e}", out.display());
    let json = |e: serde_json::Error| format!("encoding the export: {e}");
    let header = Header {
        format: FORMAT.to_owned(),
        origin: transparency.origin().to_owned(),
        verifier_key: transparency.verifier_key(),
    };
    writeln!(w, "{}", serde_json::to_string(&header).map_err(json)?).map_err(io)?;
    let mut from = 0;
    while from < latest.size {
        let to = latest.size.min(from + BATCH);
        let entries = store
            .log_entries(from, to)
            .await
            .map_err(|e| e.to_string())?;
        if entries.len() as u64 != to - from {
            return Err(format!("the log is missing leaves between {from} and {to}"));
        }
        for entry in &entries {
            let line = Line::Entry(Box::new(ExportedEntry::from(entry)));
            writeln!(w, "{}", serde_json::to_string(&line).map_err(json)?).map_err(io)?;
        }
        from = to;
    }
    for checkpoint in store.checkpoints().await.map_err(|e| e.to_string())? {
        if checkpoint.size <= latest.size {
            let line = Line::Checkpoint(checkpoint.note);
            writeln!(w, "{}", serde_json::to_string(&line).map_err(json)?).map_err(io)?;
        }
    }
    w.flush().map_err(io)?;
    println!(
        "Exported {} events and the checkpoints up to size {} to {}.",
        latest.size,
        latest.size,
        out.display()
    );
    println!("Verifier key: {}", header.verifier_key);
    Ok(())
}

/// Checks an export; on failure the message names the first bad index.
pub fn verify_file(path: &Path, key: Option<&str>, against: Option<&Path>) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (header, entries, checkpoints) =
        verify::parse(&text).map_err(|e| format!("verification FAILED: {e}"))?;
    let key = match key {
        Some(k) => k.to_owned(),
        None => {
            eprintln!(
                "note: using the verifier key inside the export; pass --key (from /api/v1/audit/key or your witness) to check it against a key you trust"
            );
            header.verifier_key.clone()
        }
    };
    let against_note = against
        .map(|p| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        })
        .transpose()?;
    match verify::verify(&key, &entries, &checkpoints, against_note.as_deref()) {
        Ok(v) => {
            println!(
                "OK: {} events, {} signed checkpoints verified; root {}",
                v.entries,
                v.checkpoints,
                hex_root(&v.root)
            );
            if against.is_some() {
                println!("OK: the log extends the given checkpoint.");
            }
            Ok(())
        }
        Err(e) => Err(format!("verification FAILED: {e}")),
    }
}

fn hex_root(root: &[u8; 32]) -> String {
    root.iter().map(|b| format!("{b:02x}")).collect()
}
