//! Documents round-trip, ciphertext hides the plaintext, and a document opens only on
//! its own row with a receipt for reading exactly it.

use crate::support::*;

const SIZES: [usize; 6] = [
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    3 * CHUNK_SIZE + 7,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn documents_round_trip_whatever_the_piece_sizes(
        size in prop::sample::select(SIZES.to_vec()),
        plain_sizes in prop::collection::vec(1usize..(2 * CHUNK_SIZE + 3), 1..6),
        cipher_sizes in prop::collection::vec(1usize..(2 * CHUNK_SIZE + 3), 1..6),
        empties in any::<bool>(),
    ) {
        let w = World::new();
        let ctx = w.document();
        let plaintext = sample(size);
        let (data_key, sealer) = w.vault.seal_document(&w.patient_key, &ctx).unwrap();
        let input = pieces(&Bytes::from(plaintext.clone()), &plain_sizes, empties);
        if size == 0 {
            // An empty document is an input stream with no items at all.
            prop_assert!(input.is_empty());
        }
        let sealed: Vec<Bytes> = block_on(seal_stream(sealer, stream::iter(input)).collect::<Vec<_>>())
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert!(sealed.iter().all(|c| c.len() <= SEALED_CHUNK_SIZE));
        let blob: Vec<u8> = sealed.concat();
        prop_assert_eq!(blob.len() as u64, sealed_len(size as u64));

        let receipt = w.receipt(&ctx, Action::ReadDocumentContent);
        let opener = w.vault.open_document(&receipt, &w.patient_key, &data_key, &ctx).unwrap();
        let input = pieces(&Bytes::from(blob), &cipher_sizes, empties);
        let opened: Vec<Bytes> = block_on(open_stream(opener, stream::iter(input)).collect::<Vec<_>>())
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert!(opened.iter().all(|c| !c.is_empty() && c.len() <= CHUNK_SIZE));
        prop_assert_eq!(opened.concat(), plaintext);
    }
}

#[test]
fn ciphertext_never_contains_the_plaintext() {
    let w = World::new();
    let ctx = w.document();
    let marker = b"PLAINTEXT-MARKER";
    let plaintext = marker.repeat(1024 * 1024 / marker.len());
    let (data_key, blob) = w.seal(&ctx, &plaintext);
    assert!(!blob.windows(marker.len()).any(|w| w == marker));
    assert!(!blob.windows(9).any(|w| w == b"PLAINTEXT"));
    // Identical plaintext chunks seal to different ciphertext (per-chunk nonces).
    let first = &blob[HEADER_LEN..HEADER_LEN + SEALED_CHUNK_SIZE];
    let second = &blob[HEADER_LEN + SEALED_CHUNK_SIZE..HEADER_LEN + 2 * SEALED_CHUNK_SIZE];
    assert_ne!(first, second);
    assert_eq!(w.open(&ctx, &data_key, &blob).unwrap(), plaintext);
}

#[test]
fn the_same_document_sealed_twice_gives_unrelated_ciphertext() {
    let w = World::new();
    let ctx = w.document();
    let (k1, b1) = w.seal(&ctx, b"same text");
    let (k2, b2) = w.seal(&ctx, b"same text");
    assert_ne!(k1, k2);
    assert_ne!(b1[HEADER_LEN..], b2[HEADER_LEN..]);
}

#[test]
fn swapped_ciphertexts_and_data_keys_do_not_open() {
    let w = World::new();
    let (a, b) = (w.document(), w.document());
    let (key_a, blob_a) = w.seal(&a, &sample(5000));
    let (key_b, blob_b) = w.seal(&b, &sample(5000));
    assert!(w.open(&a, &key_a, &blob_a).is_ok());

    // B's body on A's row.
    let err = w.open(&a, &key_a, &blob_b).unwrap_err();
    assert!(matches!(err, CryptoError::Chunk { index: 0 }), "{err}");
    // B's data key on A's row, with A's body.
    let err = w.open(&a, &key_b, &blob_a).unwrap_err();
    assert!(matches!(err, CryptoError::Unwrap(_)), "{err}");
    // B's data key and body moved together onto A's row: the key is bound to B's id.
    let err = w.open(&a, &key_b, &blob_b).unwrap_err();
    assert!(matches!(err, CryptoError::Unwrap(_)), "{err}");
}

#[test]
fn patient_keys_do_not_move_between_patients() {
    let vault = Vault::new(Keyring::generate().unwrap());
    let one = World::with_vault(vault.clone());
    let two = World::with_vault(vault.clone());
    let ctx = two.document();
    let (data_key, blob) = two.seal(&ctx, &sample(100));
    let receipt = two.receipt(&ctx, Action::ReadDocumentContent);

    // Patient one's key offered for patient two's document.
    let err = vault
        .open_document(&receipt, &one.patient_key, &data_key, &ctx)
        .unwrap_err();
    assert!(matches!(err, CryptoError::Unwrap("patient")), "{err}");
    // Patient one's key cannot seal into patient two's record either.
    assert!(vault.seal_document(&one.patient_key, &ctx).is_err());
    // The same patient at another practice is another row.
    let moved = DocumentContext {
        practice: PracticeId::new(),
        ..ctx
    };
    assert!(vault.seal_document(&two.patient_key, &moved).is_err());
    // The right key still works.
    assert_eq!(two.open(&ctx, &data_key, &blob).unwrap(), sample(100));
}

#[test]
fn a_receipt_opens_only_the_document_it_names() {
    let w = World::new();
    let (a, b) = (w.document(), w.document());
    let (key_b, blob_b) = w.seal(&b, b"document B");
    let receipt_a = w.receipt(&a, Action::ReadDocumentContent);

    let err = open_with(
        &w.vault,
        &receipt_a,
        &w.patient_key,
        &key_b,
        &b,
        &blob_b,
        &[10],
    )
    .unwrap_err();
    assert!(matches!(err, CryptoError::NotAuthorized), "{err}");
    assert_eq!(
        err.to_string(),
        "the audit receipt does not authorise reading this document's content"
    );
}

#[test]
fn a_metadata_receipt_opens_nothing() {
    let w = World::new();
    let ctx = w.document();
    let (data_key, _) = w.seal(&ctx, b"content");
    let meta = w.receipt(&ctx, Action::ReadDocumentMeta);
    let err = w
        .vault
        .open_document(&meta, &w.patient_key, &data_key, &ctx)
        .unwrap_err();
    assert!(matches!(err, CryptoError::NotAuthorized), "{err}");
}

#[test]
fn a_receipt_for_the_right_document_id_under_another_patient_opens_nothing() {
    let w = World::new();
    let ctx = w.document();
    let (data_key, _) = w.seal(&ctx, b"content");
    // Another patient's own-record grant for a target naming this document id.
    let other = DocumentContext {
        patient: PatientId::new(),
        ..ctx
    };
    let receipt = receipt_for(&w.log, &other, Action::ReadDocumentContent);
    let err = w
        .vault
        .open_document(&receipt, &w.patient_key, &data_key, &ctx)
        .unwrap_err();
    assert!(matches!(err, CryptoError::NotAuthorized), "{err}");
}
