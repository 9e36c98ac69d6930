//! Stories about the backends themselves: concurrency, the database's own guards,
//! reopening, and what `Debug` may print.

use crate::Backend;
use crate::fixtures::*;
use secrecy::SecretString;
use sqlx::Connection;
use std::path::Path;
use tiaki_store::{BlobStore, PgStore, S3Config, SqliteStore, open_store};

pub async fn audit_log_over_the_store(backend: &Backend) {
    crate::documents::audit_log_over_the_store(backend.store.clone()).await;
}

/// Even a connection that bypasses the store cannot rewrite or delete audit events.
pub async fn audit_events_are_append_only(backend: &Backend) {
    let store = backend.store.as_ref();
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let p = patient(pr.id, 1, "Aroha", "Ngāta");
    store.append(&[event(Some(&p), None)]).await.unwrap();
    let attempts = [
        "UPDATE audit_events SET outcome = 'denied'",
        "DELETE FROM audit_events",
    ];
    if backend.location.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&backend.location)
            .await
            .unwrap();
        for sql in attempts {
            assert!(sqlx::query(sql).execute(&mut conn).await.is_err(), "{sql}");
        }
        assert!(
            sqlx::query("TRUNCATE audit_events")
                .execute(&mut conn)
                .await
                .is_err()
        );
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&backend.location)
            .await
            .unwrap();
        for sql in attempts {
            assert!(sqlx::query(sql).execute(&mut conn).await.is_err(), "{sql}");
        }
    }
    assert_eq!(store.audit_count().await.unwrap(), 1);
}

/// Opening an existing database runs no migration twice and keeps what it holds; and
/// `Debug` never shows a password.
pub async fn reopening_keeps_data(backend: &Backend) {
    let pr = practice("Awanui Medical");
    backend.store.practice_insert(&pr).await.unwrap();
    let again = open_store(&backend.location).await.unwrap();
    assert_eq!(again.practice(pr.id).await.unwrap(), Some(pr));
    if backend.location.starts_with("postgres") {
        // Trust authentication ignores the password, which lets us look for it.
        let with_password = backend
            .location
            .replacen("postgres@", "postgres:hunter2@", 1);
        let pg = PgStore::connect(&with_password).await.unwrap();
        let shown = format!("{pg:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("PgStore"),
            "{shown}"
        );
        pg.close().await;
    } else {
        let path = Path::new(backend.location.trim_start_matches("sqlite://"));
        let sqlite = SqliteStore::open(path).await.unwrap();
        assert_eq!(sqlite.path(), path);
        assert!(format!("{sqlite:?}").contains("tiaki.db"));
    }
    let cfg = S3Config {
        endpoint: Some("http://127.0.0.1:9".into()),
        bucket: "b".into(),
        region: "r".into(),
        access_key_id: "AKIA".into(),
        secret_access_key: SecretString::from("very-secret-key".to_string()),
        allow_http: true,
    };
    assert!(!format!("{cfg:?}").contains("very-secret-key"));
    let blobs = BlobStore::s3(&cfg).unwrap();
    assert!(!format!("{blobs:?}").contains("very-secret-key"));
    assert!(open_store("mysql://root:pw@localhost/x").await.is_err());
}
