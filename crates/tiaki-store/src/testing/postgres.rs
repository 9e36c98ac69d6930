//! A uniquely named, empty PostgreSQL database per test.

use crate::error::StoreError;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const PREFIX: &str = "tiaki_test_";
/// Databases older than this are assumed abandoned by crashed or finished runs.
const STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

/// Creates an empty database on the server `TIAKI_TEST_PG_URL` points to (default
/// `postgres://postgres@127.0.0.1:5432/postgres`) and returns its URL. Old
/// `tiaki_test_*` databases nobody is connected to are dropped on the way.
pub async fn fresh_postgres_url() -> Result<String, StoreError> {
    let admin_url = std::env::var("TIAKI_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_URL.into());
    let mut conn = PgConnection::connect(&admin_url).await.map_err(|e| {
        StoreError::Unavailable(format!(
            "PostgreSQL is needed for this test and is not reachable ({e}); start it \
             (e.g. `pg_ctlcluster --skip-systemctl-redirect 15 main start`) or set \
             TIAKI_TEST_PG_URL"
        ))
    })?;
    drop_stale(&mut conn).await;
    let name = format!("{PREFIX}{}_{}", unix_secs(), Uuid::new_v4().simple());
    // Identifiers cannot be bound; the name is ours, made of [a-z0-9_] only.
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    Ok(with_database(&admin_url, &name))
}

/// Drops a database made by [`fresh_postgres_url`] (close its pools first). Refuses
/// any database not named like one.
pub async fn drop_postgres_database(url: &str) -> Result<(), StoreError> {
    let name = database_of(url);
    if !is_test_name(name) {
        return Err(StoreError::Conflict("not a test database".into()));
    }
    let admin_url = with_database(url, "postgres");
    let mut conn = PgConnection::connect(&admin_url).await?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await.ok();
    Ok(())
}

async fn drop_stale(conn: &mut PgConnection) {
    let Ok(names) = sqlx::query_scalar::<_, String>(
        "SELECT datname FROM pg_database WHERE starts_with(datname, 'tiaki_test_')",
    )
    .fetch_all(&mut *conn)
    .await
    else {
        return;
    };
    let now = unix_secs();
    for name in names.iter().filter(|n| is_test_name(n)) {
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|c| now.saturating_sub(c) > STALE_AFTER.as_secs()) {
            // Without FORCE: a database someone still uses is left alone.
            let _ = sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                .execute(&mut *conn)
                .await;
        }
    }
}

fn is_test_name(name: &str) -> bool {
    name.starts_with(PREFIX)
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The same URL naming another database; the query string is kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    match query {
        Some(q) => format!("{scheme}://{authority}/{database}?{q}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

fn database_of(url: &str) -> &str {
    let base = url.split_once('?').map_or(url, |(b, _)| b);
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    rest.split_once('/').map_or("", |(_, db)| db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_rewritten() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            database_of("postgres://h/tiaki_test_1_ab?x=y"),
            "tiaki_test_1_ab"
        );
        assert!(is_test_name("tiaki_test_1700000000_0af3"));
        assert!(!is_test_name("postgres"));
        assert!(!is_test_name("tiaki_test_x; DROP"));
    }
}
