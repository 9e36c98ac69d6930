//! Sealed record entries and message bodies: they open only with a receipt for a read of
//! exactly their patient's record, for a purpose the read covers, on their own row.

use super::support::*;
use tiaki_crypto::{EntryContext, EntryPurpose};
use uuid::Uuid;

fn patient_receipt(world: &World, patient: PatientId, action: Action) -> Receipt {
    let actor = Actor {
        account: AccountId::new(),
        session: SessionId::new(),
        kind: ActorKind::Patient {
            patient,
            practice: world.practice,
        },
    };
    let target = Target::Patient {
        patient,
        practice: world.practice,
    };
    let grant = authorize(&actor, action, target).unwrap();
    block_on(world.log.record(&grant, &RequestContext::default(), None)).unwrap()
}

fn entry(world: &World, purpose: EntryPurpose) -> EntryContext {
    EntryContext {
        purpose,
        id: Uuid::now_v7(),
        patient: world.patient,
        practice: world.practice,
    }
}

#[test]
fn a_sealed_entry_opens_with_a_read_receipt_for_its_patient() {
    let world = World::new();
    let ctx = entry(&world, EntryPurpose::Record);
    let body = br#"{"title":"Asthma"}"#;
    let sealed = world
        .vault
        .seal_entry(&world.patient_key, &ctx, body)
        .unwrap();
    assert!(
        !sealed.windows(6).any(|w| w == b"Asthma"),
        "stored in clear"
    );
    let receipt = patient_receipt(&world, world.patient, Action::ReadRecords);
    let opener = world
        .vault
        .entry_opener(&receipt, &world.patient_key)
        .unwrap();
    assert_eq!(opener.open(&ctx, &sealed).unwrap().as_slice(), body);
}

#[test]
fn the_wrong_receipt_row_or_bytes_open_nothing() {
    let world = World::new();
    let ctx = entry(&world, EntryPurpose::Record);
    let sealed = world
        .vault
        .seal_entry(&world.patient_key, &ctx, b"note")
        .unwrap();

    // A receipt for another action is refused before any key is touched.
    let listing = patient_receipt(&world, world.patient, Action::ListDocuments);
    assert!(matches!(
        world.vault.entry_opener(&listing, &world.patient_key),
        Err(CryptoError::NotAuthorized)
    ));
    // A document receipt is not a record receipt.
    let doc = world.document();
    let doc_receipt = world.receipt(&doc, Action::ReadDocumentContent);
    assert!(matches!(
        world.vault.entry_opener(&doc_receipt, &world.patient_key),
        Err(CryptoError::NotAuthorized)
    ));

    // A message read does not open a record entry.
    let messages = patient_receipt(&world, world.patient, Action::ReadMessages);
    let opener = world
        .vault
        .entry_opener(&messages, &world.patient_key)
        .unwrap();
    assert!(matches!(
        opener.open(&ctx, &sealed),
        Err(CryptoError::NotAuthorized)
    ));

    let reader = patient_receipt(&world, world.patient, Action::ReadRecords);
    let opener = world
        .vault
        .entry_opener(&reader, &world.patient_key)
        .unwrap();
    // Moved onto another row, or relabelled as another purpose: fails to authenticate.
    let moved = EntryContext {
        id: Uuid::now_v7(),
        ..ctx
    };
    assert!(opener.open(&moved, &sealed).is_err());
    let relabelled = EntryContext {
        purpose: EntryPurpose::Prescription,
        ..ctx
    };
    assert!(opener.open(&relabelled, &sealed).is_err());
    // Any flipped bit fails.
    for at in [0, 5, sealed.len() - 1] {
        let mut bad = sealed.clone();
        bad[at] ^= 1;
        assert!(opener.open(&ctx, &bad).is_err(), "bit flipped at {at}");
    }
    assert!(opener.open(&ctx, &sealed[..10]).is_err());

    // A receipt for another patient opens nothing of this one, even with this key.
    let other = patient_receipt(&world, PatientId::new(), Action::ReadRecords);
    assert!(
        world
            .vault
            .entry_opener(&other, &world.patient_key)
            .is_err()
    );
}

#[test]
fn oversized_bodies_are_refused() {
    let world = World::new();
    let ctx = entry(&world, EntryPurpose::Message);
    let big = vec![b'x'; tiaki_crypto::MAX_ENTRY_LEN + 1];
    assert!(
        world
            .vault
            .seal_entry(&world.patient_key, &ctx, &big)
            .is_err()
    );
}
