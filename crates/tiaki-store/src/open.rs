//! Choosing the backend from a URL, once, at start-up.

use crate::error::StoreError;
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::store::Store;
use std::path::Path;
use std::sync::Arc;

/// Opens the store a URL names: `sqlite://PATH` (or `sqlite:PATH`) for the embedded
/// database, `postgres://…` or `postgresql://…` for PostgreSQL. Runs migrations.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = sqlite_path(url) {
        return Ok(Arc::new(SqliteStore::open(Path::new(path)).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(PgStore::connect(url).await?));
    }
    // The URL may hold a password: name only its scheme.
    let scheme = url.split_once(':').map_or("none", |(s, _)| s);
    Err(StoreError::Unavailable(format!(
        "unsupported database scheme {scheme:?}: use sqlite://PATH or postgres://…"
    )))
}

fn sqlite_path(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    // Query options (`?mode=rwc`) are not supported: the store sets its own.
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn sqlite_urls_name_a_path() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/tiaki/db.sqlite"),
            Some("/var/lib/tiaki/db.sqlite")
        );
        assert_eq!(sqlite_path("sqlite://data/tiaki.db"), Some("data/tiaki.db"));
        assert_eq!(sqlite_path("sqlite:tiaki.db?mode=rwc"), Some("tiaki.db"));
        assert_eq!(sqlite_path("sqlite://"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }
}
