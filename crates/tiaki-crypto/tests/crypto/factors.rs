//! Account secrets sealed under the keyring, and second factors.

use tiaki_crypto::{
    CryptoError, Keyring, SealedSecret, SecretPurpose, TotpSecret, Vault, generate_recovery_code,
    hash_recovery_code, totp_step,
};
use tiaki_domain::AccountId;

#[test]
fn a_sealed_totp_seed_opens_only_for_its_account_with_its_keyring() {
    let vault = Vault::new(Keyring::generate().unwrap());
    let me = AccountId::new();
    let seed = TotpSecret::generate().unwrap();
    let sealed = vault
        .seal_secret(SecretPurpose::Totp, me, seed.as_bytes())
        .unwrap();
    // Never in clear in what the store keeps.
    assert!(
        !sealed
            .bytes
            .windows(seed.as_bytes().len())
            .any(|w| w == seed.as_bytes())
    );
    let opened = vault.open_secret(SecretPurpose::Totp, me, &sealed).unwrap();
    assert_eq!(opened.as_slice(), seed.as_bytes());

    // Another account's row, another keyring, a relabelled version, a flipped bit.
    let other = vault.open_secret(SecretPurpose::Totp, AccountId::new(), &sealed);
    assert!(matches!(other, Err(CryptoError::Unwrap(_))), "{other:?}");
    let stranger = Vault::new(Keyring::generate().unwrap());
    assert!(
        stranger
            .open_secret(SecretPurpose::Totp, me, &sealed)
            .is_err()
    );
    let relabelled = SealedSecret {
        kek_version: tiaki_crypto::KekVersion(2),
        bytes: sealed.bytes.clone(),
    };
    assert!(matches!(
        vault.open_secret(SecretPurpose::Totp, me, &relabelled),
        Err(CryptoError::UnknownKeyVersion(_))
    ));
    for i in 0..sealed.bytes.len() {
        let mut bent = sealed.clone();
        bent.bytes[i] ^= 0x01;
        assert!(
            vault.open_secret(SecretPurpose::Totp, me, &bent).is_err(),
            "byte {i}"
        );
    }
    for len in [0, 1, 13, 28, 29] {
        let short = SealedSecret {
            kek_version: sealed.kek_version,
            bytes: sealed.bytes[..len.min(sealed.bytes.len())].to_vec(),
        };
        assert!(vault.open_secret(SecretPurpose::Totp, me, &short).is_err());
    }
}

#[test]
fn sealed_secrets_survive_a_kek_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyring.json");
    let mut keyring = Keyring::generate().unwrap();
    keyring.save(&path).unwrap();
    let me = AccountId::new();
    let seed = b"0123456789abcdefghij";
    let old = Vault::new(Keyring::load(&path).unwrap())
        .seal_secret(SecretPurpose::Totp, me, seed)
        .unwrap();
    assert_eq!(old.kek_version.0, 1);
    // A keyring that never held that KEK cannot open it...
    assert!(
        Vault::new(Keyring::generate().unwrap())
            .open_secret(SecretPurpose::Totp, me, &old)
            .is_err()
    );
    // ...and one that rotated still opens what its retired version sealed.
    keyring.add_version().unwrap();
    let rotated = Vault::new(keyring);
    let open = |s: &SealedSecret| rotated.open_secret(SecretPurpose::Totp, me, s).unwrap();
    assert_eq!(open(&old).as_slice(), seed);
    let fresh = rotated.seal_secret(SecretPurpose::Totp, me, seed).unwrap();
    assert_eq!(fresh.kek_version.0, 2);
    assert_eq!(open(&fresh).as_slice(), seed);
}

#[test]
fn totp_codes_match_what_an_authenticator_shows() {
    let seed = TotpSecret::generate().unwrap();
    let now = 1_800_000_015;
    let code = seed.code_at(now).unwrap();
    assert_eq!(code.len(), 6);
    assert_eq!(seed.check(&code, now), Some(totp_step(now)));
    // The previous step's code is still accepted (a slow typist), two steps back is not.
    let previous = seed.code_at(now - 30).unwrap();
    assert_eq!(seed.check(&previous, now), Some(totp_step(now) - 1));
    let stale = seed.code_at(now - 60).unwrap();
    if stale != code && stale != previous {
        assert_eq!(seed.check(&stale, now), None);
    }
    let uri = seed.otpauth_uri("Tiaki", "patient.a@x");
    assert!(uri.starts_with("otpauth://totp/Tiaki:patient%2Ea%40x?secret="));
    assert!(uri.contains(seed.to_base32().as_str()));
    assert!(uri.ends_with("&issuer=Tiaki&algorithm=SHA1&digits=6&period=30"));
}

#[test]
fn recovery_codes_are_random_and_hash_to_what_is_stored() {
    let codes: Vec<_> = (0..10).map(|_| generate_recovery_code().unwrap()).collect();
    for (i, (shown, hash)) in codes.iter().enumerate() {
        assert_eq!(hash_recovery_code(shown), Some(*hash));
        for (j, (_, other)) in codes.iter().enumerate() {
            assert!(i == j || hash != other);
        }
    }
    assert_eq!(hash_recovery_code(&"A".repeat(5000)), None);
}
