//! Memory stays flat however large the document.

use crate::support::*;

/// A large document through seal_stream and open_stream, piped, fed in odd-sized pieces
/// that are produced lazily. The bytes pulled from the input minus the bytes delivered at
/// the other end is everything the two adapters hold; it must stay a few chunks, not grow
/// with the document.
///
/// 200 MiB in optimised builds (`cargo test --release`); 64 MiB in debug builds, where
/// aes-gcm's generic code is instantiated in this crate at opt-level 0 and runs at a few
/// MB/s (200 MiB took over a minute). `TIAKI_STREAM_TEST_MIB` overrides the size.
#[test]
fn large_documents_stream_through_in_bounded_memory() {
    let mib: u64 = std::env::var("TIAKI_STREAM_TEST_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 64 } else { 200 });
    let total: u64 = mib * 1024 * 1024;
    const PERIOD: usize = 256 * 1024;
    const MAX_PIECE: usize = 200_000;

    let w = World::new();
    let ctx = w.document();
    // Twice the period, so any piece of up to PERIOD bytes is one zero-copy slice.
    let pattern = Bytes::from(sample(2 * PERIOD));
    let pulled = Arc::new(AtomicU64::new(0));

    let input = {
        let pattern = pattern.clone();
        let pulled = Arc::clone(&pulled);
        stream::unfold((0u64, 12345u64), move |(offset, seed)| {
            let pattern = pattern.clone();
            let pulled = Arc::clone(&pulled);
            async move {
                if offset >= total {
                    return None;
                }
                let seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let want = 1 + (seed >> 33) as usize % MAX_PIECE;
                let len = want.min((total - offset) as usize);
                let start = (offset % PERIOD as u64) as usize;
                pulled.fetch_add(len as u64, Ordering::SeqCst);
                Some((
                    Ok::<_, Infallible>(pattern.slice(start..start + len)),
                    (offset + len as u64, seed),
                ))
            }
        })
    };

    let (data_key, sealer) = w.vault.seal_document(&w.patient_key, &ctx).unwrap();
    let sealed_bytes = Arc::new(AtomicU64::new(0));
    let largest_sealed = Arc::new(AtomicU64::new(0));
    let sealed = {
        let sealed_bytes = Arc::clone(&sealed_bytes);
        let largest_sealed = Arc::clone(&largest_sealed);
        seal_stream(sealer, input).inspect(move |item| {
            if let Ok(chunk) = item {
                sealed_bytes.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                largest_sealed.fetch_max(chunk.len() as u64, Ordering::SeqCst);
            }
        })
    };
    let receipt = w.receipt(&ctx, Action::ReadDocumentContent);
    let opener = w
        .vault
        .open_document(&receipt, &w.patient_key, &data_key, &ctx)
        .unwrap();
    let mut opened = Box::pin(open_stream(opener, sealed));

    let mut delivered = 0u64;
    let mut largest_plain = 0usize;
    let mut most_held = 0u64;
    block_on(async {
        while let Some(item) = opened.next().await {
            let chunk = item.unwrap();
            let start = (delivered % PERIOD as u64) as usize;
            assert!(
                chunk[..] == pattern[start..start + chunk.len()],
                "at {delivered}"
            );
            delivered += chunk.len() as u64;
            largest_plain = largest_plain.max(chunk.len());
            most_held = most_held.max(pulled.load(Ordering::SeqCst) - delivered);
        }
    });

    assert_eq!(delivered, total);
    assert_eq!(sealed_bytes.load(Ordering::SeqCst), sealed_len(total));
    assert!(largest_sealed.load(Ordering::SeqCst) <= SEALED_CHUNK_SIZE as u64);
    assert!(largest_plain <= CHUNK_SIZE);
    // One chunk being filled on each side plus one look-ahead input piece.
    let bound = (3 * CHUNK_SIZE + MAX_PIECE) as u64;
    assert!(most_held <= bound, "held {most_held} bytes, bound {bound}");
    assert!(
        most_held >= CHUNK_SIZE as u64,
        "the measurement measured nothing"
    );
}
