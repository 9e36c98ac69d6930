//! Keyring files: private, checked, clear when wrong; and KEK rotation by re-wrapping.

use crate::support::*;

#[test]
fn another_keyring_cannot_open() {
    let w = World::new();
    let ctx = w.document();
    let (key, blob) = w.seal(&ctx, b"secret");
    let stranger = Vault::new(Keyring::generate().unwrap());
    assert_eq!(stranger.active_version(), w.vault.active_version());
    let receipt = w.receipt(&ctx, Action::ReadDocumentContent);
    let err = open_with(
        &stranger,
        &receipt,
        &w.patient_key,
        &key,
        &ctx,
        &blob,
        &[64],
    )
    .unwrap_err();
    assert!(matches!(err, CryptoError::Unwrap("patient")), "{err}");
}

#[test]
fn a_new_keyring_file_is_private_and_reloads_to_the_same_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/keyring.json");
    let (first, created) = Keyring::load_or_create(&path).unwrap();
    assert!(created);
    assert_eq!(mode_of(&path), 0o600);
    assert_eq!(first.versions(), vec![KekVersion(1)]);
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("keyring.json")]);

    let session = SessionId::new();
    let token = first.csrf_token(&session);
    let w = World::with_vault(Vault::new(first));
    let ctx = w.document();
    let (key, blob) = w.seal(&ctx, b"kept across restarts");

    let (second, created) = Keyring::load_or_create(&path).unwrap();
    assert!(!created);
    assert!(second.verify_csrf(&session, &token));
    let reloaded = Vault::new(second);
    let receipt = w.receipt(&ctx, Action::ReadDocumentContent);
    let plain = open_with(&reloaded, &receipt, &w.patient_key, &key, &ctx, &blob, &[5]).unwrap();
    assert_eq!(plain, b"kept across restarts");
}

#[test]
fn a_keyring_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    Keyring::load_or_create(&path).unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660] {
        set_mode(&path, mode);
        let err = Keyring::load(&path).unwrap_err();
        assert!(matches!(err, KeyringError::Permissions { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("chmod 600"), "{message}");
        assert!(message.contains(&format!("{mode:03o}")), "{message}");
        // load_or_create must not quietly replace it either.
        assert!(Keyring::load_or_create(&path).is_err());
    }
    set_mode(&path, 0o400);
    assert!(Keyring::load(&path).is_ok());
}

#[test]
fn a_corrupted_keyring_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    Keyring::load_or_create(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let kek_hex = json["keks"][0]["key"].as_str().unwrap().to_owned();

    // One hex digit changed in the KEK.
    let flipped_digit = if kek_hex.starts_with('0') { "1" } else { "0" };
    let corrupt = text.replacen(&kek_hex, &format!("{flipped_digit}{}", &kek_hex[1..]), 1);
    std::fs::write(&path, corrupt).unwrap();
    let err = Keyring::load(&path).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, KeyringError::Invalid { .. }), "{message}");
    assert!(
        message.starts_with(&format!(
            "the keyring at {} is not valid: key version 1",
            path.display()
        )),
        "{message}"
    );
    assert!(message.contains("check value"), "{message}");
    assert!(!message.contains(&kek_hex[1..]), "{message}");

    // Not JSON at all (e.g. truncated by a full disk).
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let message = Keyring::load(&path).unwrap_err().to_string();
    assert!(message.contains("is not valid"), "{message}");
    assert!(!message.contains(&kek_hex), "{message}");

    // Two active versions.
    let two_active = json.to_string().replace("\"retired\"", "\"active\"");
    let mut doubled: serde_json::Value = serde_json::from_str(&two_active).unwrap();
    let entry = doubled["keks"][0].clone();
    let mut second = entry.clone();
    second["version"] = 2.into();
    doubled["keks"] = serde_json::Value::Array(vec![entry, second]);
    std::fs::write(&path, doubled.to_string()).unwrap();
    let message = Keyring::load(&path).unwrap_err().to_string();
    assert!(message.contains("is not valid"), "{message}");
}

#[test]
fn a_keyring_missing_a_version_the_database_needs_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    let (keyring, _) = Keyring::load_or_create(&path).unwrap();
    assert!(keyring.require_versions([KekVersion(1)]).is_ok());
    let err = keyring
        .require_versions([KekVersion(1), KekVersion(7)])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the keyring at {} does not contain key version 7 that the database needs",
            path.display()
        )
    );
}

#[test]
fn debug_output_never_shows_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    let (keyring, _) = Keyring::load_or_create(&path).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let secrets = [
        json["keks"][0]["key"].as_str().unwrap().to_owned(),
        json["mac_key"].as_str().unwrap().to_owned(),
    ];
    let mac = keyring.mac_key();
    let vault = Vault::new(keyring);
    let w = World::with_vault(vault.clone());
    let ctx = w.document();
    let (_, sealer) = vault.seal_document(&w.patient_key, &ctx).unwrap();
    let receipt = w.receipt(&ctx, Action::ReadDocumentContent);
    let (data_key, _) = w.seal(&ctx, b"x");
    let opener = vault
        .open_document(&receipt, &w.patient_key, &data_key, &ctx)
        .unwrap();
    let shown = format!("{vault:?} {mac:?} {sealer:?} {opener:?}");
    assert!(shown.contains("Keyring"), "{shown}");
    for secret in &secrets {
        assert!(!shown.to_lowercase().contains(&secret[..16]), "{shown}");
    }
}

#[test]
fn rewrapped_keys_open_under_a_new_active_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    let (old_keyring, _) = Keyring::load_or_create(&path).unwrap();
    let old = Vault::new(old_keyring);
    let w = World::with_vault(old.clone());
    assert_eq!(w.patient_key.kek_version, KekVersion(1));
    let ctx = w.document();
    let (data_key, blob) = w.seal(&ctx, b"survives rotation");

    let mut rotated = Keyring::load(&path).unwrap();
    assert_eq!(rotated.add_version().unwrap(), KekVersion(2));
    rotated.save(&path).unwrap();
    assert_eq!(mode_of(&path), 0o600);
    let rotated = Keyring::load(&path).unwrap();
    assert_eq!(rotated.versions(), vec![KekVersion(1), KekVersion(2)]);
    assert_eq!(rotated.active_version(), KekVersion(2));
    let new = Vault::new(rotated);

    let rewrapped = new
        .rewrap_patient_key(&w.patient_key, w.patient, w.practice)
        .unwrap();
    assert_eq!(rewrapped.kek_version, KekVersion(2));
    assert_ne!(rewrapped.bytes, w.patient_key.bytes);
    let receipt = w.receipt(&ctx, Action::ReadDocumentContent);
    // The document's data key is untouched, and opens through the re-wrapped key.
    let plain = open_with(&new, &receipt, &rewrapped, &data_key, &ctx, &blob, &[3]).unwrap();
    assert_eq!(plain, b"survives rotation");
    // The retired version still unwraps rows not yet re-wrapped.
    assert!(open_with(&new, &receipt, &w.patient_key, &data_key, &ctx, &blob, &[3]).is_ok());
    // New patient keys use the new version.
    assert_eq!(
        new.new_patient_key(PatientId::new(), PracticeId::new())
            .unwrap()
            .kek_version,
        KekVersion(2)
    );
    // A keyring without version 2 names what it lacks.
    let err = open_with(&old, &receipt, &rewrapped, &data_key, &ctx, &blob, &[3]).unwrap_err();
    assert!(
        matches!(err, CryptoError::UnknownKeyVersion(KekVersion(2))),
        "{err}"
    );
    // Relabelling a wrapped key with another version does not fool the vault.
    let relabelled = WrappedPatientKey {
        kek_version: KekVersion(1),
        bytes: rewrapped.bytes.clone(),
    };
    let err = open_with(&new, &receipt, &relabelled, &data_key, &ctx, &blob, &[3]).unwrap_err();
    assert!(matches!(err, CryptoError::Unwrap("patient")), "{err}");
}
