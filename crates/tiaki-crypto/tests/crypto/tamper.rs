//! Every way of altering a sealed blob fails to open.

use crate::support::*;

/// A 4-chunk blob (3 full chunks and 7 bytes) and what opens it.
fn four_chunks() -> (World, DocumentContext, WrappedDataKey, Vec<u8>, Vec<u8>) {
    let w = World::new();
    let ctx = w.document();
    let plaintext = sample(3 * CHUNK_SIZE + 7);
    let (key, blob) = w.seal(&ctx, &plaintext);
    assert_eq!(blob.len(), HEADER_LEN + 3 * SEALED_CHUNK_SIZE + 7 + TAG_LEN);
    (w, ctx, key, blob, plaintext)
}

fn chunk_range(i: usize) -> std::ops::Range<usize> {
    let start = HEADER_LEN + i * SEALED_CHUNK_SIZE;
    start..start + SEALED_CHUNK_SIZE
}

#[test]
fn truncated_blobs_do_not_open() {
    let (w, ctx, key, blob, _) = four_chunks();
    for cut in [
        0,
        3,
        HEADER_LEN,
        HEADER_LEN + 5,
        HEADER_LEN + SEALED_CHUNK_SIZE,
        HEADER_LEN + 2 * SEALED_CHUNK_SIZE,
        HEADER_LEN + 2 * SEALED_CHUNK_SIZE + 100,
        HEADER_LEN + 3 * SEALED_CHUNK_SIZE,
        blob.len() - 1,
    ] {
        assert!(w.open(&ctx, &key, &blob[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn dropping_the_final_chunk_is_detected() {
    // A document ending on a full chunk: without its final chunk, the blob is a valid
    // sequence of full chunks, and only the final-chunk flag exposes the loss.
    let w = World::new();
    let ctx = w.document();
    let (key, blob) = w.seal(&ctx, &sample(2 * CHUNK_SIZE));
    assert_eq!(blob.len(), HEADER_LEN + 2 * SEALED_CHUNK_SIZE);
    let err = w
        .open(&ctx, &key, &blob[..HEADER_LEN + SEALED_CHUNK_SIZE])
        .unwrap_err();
    assert!(matches!(err, CryptoError::Chunk { index: 0 }), "{err}");

    let (w, ctx, key, blob, _) = four_chunks();
    let err = w
        .open(&ctx, &key, &blob[..HEADER_LEN + 3 * SEALED_CHUNK_SIZE])
        .unwrap_err();
    assert!(matches!(err, CryptoError::Chunk { index: 2 }), "{err}");
}

#[test]
fn reordered_chunks_do_not_open() {
    let (w, ctx, key, blob, _) = four_chunks();
    let mut swapped = blob[..HEADER_LEN].to_vec();
    swapped.extend_from_slice(&blob[chunk_range(1)]);
    swapped.extend_from_slice(&blob[chunk_range(0)]);
    swapped.extend_from_slice(&blob[chunk_range(2).start..]);
    let err = w.open(&ctx, &key, &swapped).unwrap_err();
    assert!(matches!(err, CryptoError::Chunk { index: 0 }), "{err}");

    // A chunk repeated in place of its successor.
    let mut repeated = blob[..chunk_range(1).end].to_vec();
    repeated.extend_from_slice(&blob[chunk_range(1)]);
    repeated.extend_from_slice(&blob[chunk_range(3).start..]);
    let err = w.open(&ctx, &key, &repeated).unwrap_err();
    assert!(matches!(err, CryptoError::Chunk { index: 2 }), "{err}");
}

#[test]
fn any_flipped_byte_is_detected() {
    let (w, ctx, key, blob, _) = four_chunks();
    for at in [
        0,
        5,
        HEADER_LEN - 1,
        HEADER_LEN,
        chunk_range(0).end - 1,
        chunk_range(1).start + 1000,
        chunk_range(2).start + 17,
        blob.len() - TAG_LEN - 1,
        blob.len() - 1,
    ] {
        let mut bad = blob.clone();
        bad[at] ^= 0x01;
        assert!(w.open(&ctx, &key, &bad).is_err(), "flip at {at}");
    }
}

#[test]
fn tampering_late_in_a_blob_stops_the_stream_there() {
    let (w, ctx, key, blob, plaintext) = four_chunks();
    let mut bad = blob.clone();
    bad[chunk_range(2).start + 3] ^= 0x80;
    let receipt = w.receipt(&ctx, Action::ReadDocumentContent);
    let opener = w
        .vault
        .open_document(&receipt, &w.patient_key, &key, &ctx)
        .unwrap();
    let items: Vec<_> = block_on(
        open_stream(
            opener,
            stream::iter(pieces(&Bytes::from(bad), &[SEALED_CHUNK_SIZE], false)),
        )
        .collect(),
    );
    // Two authentic chunks, then the error, then nothing.
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap()[..], plaintext[..CHUNK_SIZE]);
    assert!(matches!(items[2], Err(CryptoError::Chunk { index: 2 })));
}

#[test]
fn appended_data_is_detected() {
    let (w, ctx, key, blob, _) = four_chunks();
    for extra in [&b"x"[..], &[0u8; TAG_LEN][..], &blob[chunk_range(0)]] {
        let mut longer = blob.clone();
        longer.extend_from_slice(extra);
        assert!(
            w.open(&ctx, &key, &longer).is_err(),
            "appended {}",
            extra.len()
        );
    }
    // A full-chunk document with another document's final chunk appended.
    let (key2, blob2) = w.seal(&ctx, &sample(CHUNK_SIZE));
    let (_, tail) = w.seal(&ctx, b"tail");
    let mut longer = blob2.clone();
    longer.extend_from_slice(&tail[HEADER_LEN..]);
    assert!(w.open(&ctx, &key2, &longer).is_err());
    assert!(w.open(&ctx, &key2, &blob2).is_ok());
}

#[test]
fn an_input_error_ends_the_stream_with_an_error() {
    let w = World::new();
    let ctx = w.document();
    let (_, sealer) = w.vault.seal_document(&w.patient_key, &ctx).unwrap();
    let input = stream::iter(vec![
        Ok(Bytes::from(sample(CHUNK_SIZE + 10))),
        Err("connection reset"),
        Ok(Bytes::from_static(b"never read")),
    ]);
    let items: Vec<_> = block_on(seal_stream(sealer, input).collect());
    let last = items.last().unwrap();
    assert!(
        matches!(last, Err(CryptoError::Input(m)) if m == "connection reset"),
        "{last:?}"
    );
    // Header, the first full chunk, then the error.
    assert_eq!(items.len(), 3);
}
