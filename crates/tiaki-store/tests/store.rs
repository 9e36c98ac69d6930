//! The conformance suite: the same stories against every backend.
//!
//! Store stories run on SQLite (a temporary file) and PostgreSQL (a fresh database per
//! test); blob stories on a local directory and a real `s3s-fs` server. A missing
//! PostgreSQL or `s3s-fs` fails the tests; nothing is skipped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "store/archive.rs"]
mod archive;
#[path = "store/auth.rs"]
mod auth;
#[path = "store/blobs.rs"]
mod blobs;
#[path = "store/documents.rs"]
mod documents;
#[path = "store/factors.rs"]
mod factors;
#[path = "store/fixtures.rs"]
mod fixtures;
#[path = "store/guard.rs"]
mod guard;
#[path = "store/incidents.rs"]
mod incidents;
#[path = "store/keys.rs"]
mod keys;
#[path = "store/leaks.rs"]
mod leaks;
#[path = "store/mail.rs"]
mod mail;
#[path = "store/proxies.rs"]
mod proxies;
#[path = "store/records.rs"]
mod records;
#[path = "store/schema.rs"]
mod schema;

use std::sync::Arc;
use tiaki_store::testing::{S3Server, drop_postgres_database, fresh_postgres_url};
use tiaki_store::{BlobStore, Store, open_store};

/// A store under test and what must be cleaned up after it.
pub(crate) struct Backend {
    pub(crate) store: Arc<dyn Store>,
    /// The URL the store was opened with.
    pub(crate) location: String,
    postgres: bool,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/tiaki.db");
        let location = format!("sqlite://{}", path.display());
        let store = open_store(&location).await.unwrap();
        Self {
            store,
            location,
            postgres: false,
            _dir: Some(dir),
        }
    }

    async fn postgres() -> Self {
        let url = fresh_postgres_url()
            .await
            .expect("PostgreSQL must be running for these tests");
        let store = open_store(&url).await.unwrap();
        Self {
            store,
            location: url,
            postgres: true,
            _dir: None,
        }
    }

    async fn finish(self) {
        let Self {
            store,
            location,
            postgres,
            _dir,
        } = self;
        drop(store);
        if postgres {
            drop_postgres_database(&location).await.unwrap();
        }
    }
}

/// Runs each story against SQLite and against PostgreSQL, as separate tests.
macro_rules! store_stories {
    ($($module:ident :: $story:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $story() {
                    let backend = super::Backend::sqlite().await;
                    super::$module::$story(backend.store.as_ref()).await;
                    backend.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $story() {
                    let backend = super::Backend::postgres().await;
                    super::$module::$story(backend.store.as_ref()).await;
                    backend.finish().await;
                }
            )*
        }
    };
}

store_stories!(
    records::practices_round_trip,
    records::patients_and_their_keys,
    records::patient_search_stays_in_its_practice,
    records::platform_counts_count_each_practice,
    records::accounts_by_id_and_username,
    records::sessions_touch_and_revoke,
    records::settings_and_ping,
    records::errors_name_no_one,
    documents::documents_round_trip,
    documents::document_insert_is_atomic,
    documents::audit_appends_in_order_and_atomically,
    leaks::fingerprints_are_found_by_digest_and_added_once,
    auth::sessions_of_an_account_list_and_revoke,
    auth::totp_enrolment_is_confirmed_once_and_steps_never_replay,
    auth::recovery_codes_are_single_use,
    auth::throttle_counters_are_shared_and_scoped,
    mail::links_verify_addresses_and_reset_passwords_once,
    mail::an_invitation_makes_one_account_however_redemptions_race,
    factors::sessions_record_factors_and_step_up_rotates_the_token,
    factors::passkeys_round_trip_and_belong_to_one_account,
    factors::the_last_factor_is_never_deleted,
    factors::trusted_devices_list_and_revoke,
    guard::counters_add_up_and_count_each_patient_once,
    guard::baseline_is_the_mean_of_a_role_at_a_practice,
    guard::containment_freezes_revokes_and_releases,
    guard::alerts_decoys_and_switches_round_trip,
    incidents::scopes_freeze_exactly_the_matching_reads,
    incidents::published_scopes_reach_patients_and_notices_go_once,
    incidents::containment_changes_every_named_account_at_once,
    proxies::proxy_grants_round_trip_and_a_new_one_replaces_the_old,
    proxies::revoking_a_grant_happens_once_with_its_event,
    proxies::a_refused_grant_changes_nothing,
    proxies::racing_grants_leave_one_in_force,
    keys::patient_keys_rewrap_only_rows_that_still_hold_what_was_read,
    keys::sealed_secrets_rewrap_never_overwrites_a_new_enrolment,
    keys::a_retired_version_can_no_longer_be_written,
    keys::servers_report_the_keyring_they_use,
    archive::archiving_swaps_the_wrapped_key_for_the_sealed_one_once,
    archive::restoring_brings_the_key_back_and_closes_the_request,
    archive::erasing_a_patient_shreds_every_key_once,
    archive::retrieval_requests_are_one_open_per_document,
);

/// Stories that need the backend itself rather than `&dyn Store`.
macro_rules! backend_stories {
    ($($module:ident :: $story:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $story() {
                    let backend = super::Backend::sqlite().await;
                    super::$module::$story(&backend).await;
                    backend.finish().await;
                }
            )*
        }
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $story() {
                    let backend = super::Backend::postgres().await;
                    super::$module::$story(&backend).await;
                    backend.finish().await;
                }
            )*
        }
    };
}

backend_stories!(
    guard::concurrent_counting_loses_nothing,
    factors::racing_deletions_keep_one_passkey,
    factors::ceremonies_are_taken_once_and_expire,
    schema::audit_log_over_the_store,
    schema::audit_events_are_append_only,
    schema::reopening_keeps_data,
    keys::rewraps_race_writers_without_losing_a_row,
);

async fn local_blobs() -> (blobs::Blobs, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let store = BlobStore::local(&root).unwrap();
    (
        blobs::Blobs {
            store,
            objects: root.clone(),
            root,
        },
        dir,
    )
}

async fn s3_blobs() -> (blobs::Blobs, S3Server) {
    let server = S3Server::start()
        .await
        .expect("s3s-fs must be installed for these tests");
    let store = BlobStore::s3(&server.config()).unwrap();
    let b = blobs::Blobs {
        store,
        objects: server.bucket_dir(),
        root: server.root().to_owned(),
    };
    (b, server)
}

/// Runs each blob story against a local directory and against `s3s-fs`.
macro_rules! blob_stories {
    ($($story:ident),* $(,)?) => {
        mod local_blobs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $story() {
                    let (b, _dir) = super::local_blobs().await;
                    super::blobs::$story(&b).await;
                }
            )*
        }
        mod s3_blobs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $story() {
                    let (b, _server) = super::s3_blobs().await;
                    super::blobs::$story(&b).await;
                }
            )*
        }
    };
}

blob_stories!(
    large_streams_round_trip,
    a_failed_upload_leaves_nothing,
    keys_must_be_clean,
    sweep_deletes_only_old_orphans,
);

/// The futures web handlers await must be `Send`: axum runs them on any worker.
#[test]
fn futures_are_send() {
    fn send<T: Send>(_: T) {}
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::local(dir.path()).unwrap();
    let input = futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>();
    send(blobs.put_stream("k", input));
    send(blobs.get_stream("k"));
    send(blobs.head_size("k"));
    send(blobs.delete("k"));
    let store: Option<Arc<dyn Store>> = None;
    if let Some(store) = &store {
        send(blobs.sweep_orphans(store.as_ref(), std::time::Duration::ZERO));
        send(open_store("sqlite://x"));
    }
}
