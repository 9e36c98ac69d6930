//! Stories about the blob store, run against a local directory and a real S3 server.

use crate::fixtures::*;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tiaki_store::{BlobStore, SqliteStore, Store, StoreError, SweepReport};

/// A blob store and the directory its objects end up in as files.
pub struct Blobs {
    pub store: BlobStore,
    /// Where an object `key` is the file `objects/key`.
    pub objects: PathBuf,
    /// Everything the backend writes, staging and bookkeeping included.
    pub root: PathBuf,
}

/// Deterministic, incompressible-looking bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// `data` as a stream of uneven chunks.
fn chunks(
    data: &[u8],
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let sizes = [65_536, 1, 1_000_003, 4_095, 300_000];
    let mut pieces = Vec::new();
    let mut rest = Bytes::copy_from_slice(data);
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        pieces.push(Ok(rest.split_to(n)));
        i += 1;
    }
    stream::iter(pieces)
}

async fn read_all(blobs: &BlobStore, key: &str) -> Vec<u8> {
    let parts: Vec<Bytes> = blobs
        .get_stream(key)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    parts.concat()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut queue = vec![dir.to_owned()];
    while let Some(d) = queue.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                queue.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

pub async fn large_streams_round_trip(b: &Blobs) {
    let data = noise(12 * 1024 * 1024 + 17, 42);
    let key = "documents/0194d1b2-large";
    assert_eq!(
        b.store.put_stream(key, chunks(&data)).await.unwrap(),
        data.len() as u64
    );
    assert_eq!(
        b.store.head_size(key).await.unwrap(),
        Some(data.len() as u64)
    );
    assert!(read_all(&b.store, key).await == data, "byte-identical");
    assert!(b.objects.join(key).is_file());

    let empty = "documents/empty";
    let none = stream::iter(Vec::<Result<Bytes, std::io::Error>>::new());
    assert_eq!(b.store.put_stream(empty, none).await.unwrap(), 0);
    assert_eq!(b.store.head_size(empty).await.unwrap(), Some(0));
    assert!(read_all(&b.store, empty).await.is_empty());

    b.store.delete(key).await.unwrap();
    assert_eq!(b.store.head_size(key).await.unwrap(), None);
    assert!(matches!(
        b.store.get_stream(key).await,
        Err(StoreError::NotFound)
    ));
    b.store.delete(key).await.unwrap();
}

pub async fn a_failed_upload_leaves_nothing(b: &Blobs) {
    let key = "documents/0194d1b2-broken";
    let good = noise(6 * 1024 * 1024, 7);
    let input = chunks(&good)
        .chain(stream::iter([Err(std::io::Error::other(
            "client went away",
        ))]))
        .chain(chunks(&noise(1024, 8)));
    let failed = b.store.put_stream(key, input).await;
    match failed {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("client went away"), "{m}"),
        other => panic!("expected the input's failure, got {other:?}"),
    }
    assert_eq!(b.store.head_size(key).await.unwrap(), None);
    assert!(matches!(
        b.store.get_stream(key).await,
        Err(StoreError::NotFound)
    ));
    // Give a backend's background clean-up a moment, then look at the disk itself.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let leftovers = files_under(&b.root);
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

pub async fn keys_must_be_clean(b: &Blobs) {
    for bad in ["", "../escape", "a//b", "/absolute", "trailing/"] {
        let result = b.store.head_size(bad).await;
        assert!(
            matches!(result, Err(StoreError::Corrupt(_))),
            "{bad:?}: {result:?}"
        );
    }
}

fn backdate(path: &Path, by: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - by).unwrap();
}

pub async fn sweep_deletes_only_old_orphans(b: &Blobs) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("tiaki.db"))
        .await
        .unwrap();
    let pr = practice("Awanui Medical");
    store.practice_insert(&pr).await.unwrap();
    let p = patient(pr.id, 1, "Aroha", "Ngāta");
    store.patient_insert(&p, &key(1)).await.unwrap();
    let doc = document(&p, 0, tiaki_domain::AccountId::new());
    store
        .document_insert(&doc, &event(Some(&p), Some(doc.meta.id)))
        .await
        .unwrap();

    let (referenced, old_orphan, fresh_orphan) = (
        doc.blob_key.as_str(),
        "documents/old-orphan",
        "documents/fresh-orphan",
    );
    for k in [referenced, old_orphan, fresh_orphan] {
        b.store
            .put_stream(k, chunks(&noise(1000, 1)))
            .await
            .unwrap();
    }
    let hour = Duration::from_secs(3600);
    backdate(&b.objects.join(referenced), 2 * hour);
    backdate(&b.objects.join(old_orphan), 2 * hour);

    let report = b.store.sweep_orphans(&store, hour).await.unwrap();
    assert_eq!(
        report,
        SweepReport {
            examined: 3,
            deleted: 1
        }
    );
    assert_eq!(b.store.head_size(old_orphan).await.unwrap(), None);
    assert!(
        b.store.head_size(referenced).await.unwrap().is_some(),
        "referenced kept"
    );
    assert!(
        b.store.head_size(fresh_orphan).await.unwrap().is_some(),
        "fresh kept"
    );

    let again = b
        .store
        .sweep_orphans(&store as &dyn Store, hour)
        .await
        .unwrap();
    assert_eq!(
        again,
        SweepReport {
            examined: 2,
            deleted: 0
        }
    );
}
