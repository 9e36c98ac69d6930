//! Passwords, session tokens and CSRF tokens.

use crate::support::*;

#[tokio::test]
async fn passwords_hash_and_verify_with_the_default_parameters() {
    let hasher = PasswordHasher::new(2);
    let password = SecretString::from("correct horse battery staple");
    let phc = hasher.hash(&password).await.unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(!phc.contains("correct horse"));
    assert!(hasher.verify(Some(&phc), &password).await);
    assert!(
        !hasher
            .verify(
                Some(&phc),
                &SecretString::from("correct horse battery stapler")
            )
            .await
    );
    // Same password, fresh salt.
    assert_ne!(hasher.hash(&password).await.unwrap(), phc);
}

#[tokio::test]
async fn unknown_users_and_malformed_hashes_never_verify() {
    let hasher = PasswordHasher::with_params(2, 1024, 1, 1).unwrap();
    let password = SecretString::from("hunter2");
    assert!(!hasher.verify(None, &password).await);
    assert!(!hasher.verify(None, &SecretString::from("")).await);
    let phc = hasher.hash(&password).await.unwrap();
    assert!(phc.contains("m=1024,t=1,p=1"), "{phc}");
    assert!(hasher.verify(Some(&phc), &password).await);
    let truncated = &phc[..phc.len() - 5];
    let damaged = phc.replacen("argon2id", "argon2xx", 1);
    for bad in ["", "hunter2", "$argon2id$", truncated, damaged.as_str()] {
        assert!(!hasher.verify(Some(bad), &password).await, "{bad}");
    }
}

#[tokio::test]
async fn a_burst_of_logins_all_complete_through_the_bounded_pool() {
    let hasher = PasswordHasher::with_params(2, 1024, 1, 1).unwrap();
    let password = SecretString::from("pw");
    let phc = hasher.hash(&password).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let hasher = hasher.clone();
            let phc = phc.clone();
            tokio::spawn(async move {
                let guess = SecretString::from(if i % 2 == 0 { "pw" } else { "nope" });
                hasher.verify(Some(&phc), &guess).await
            })
        })
        .collect();
    let mut matched = 0;
    for task in tasks {
        matched += usize::from(task.await.unwrap());
    }
    assert_eq!(matched, 8);
}

#[test]
fn session_tokens_hash_to_what_was_stored() {
    let (token, stored) = generate_token().unwrap();
    assert_eq!(token.len(), 43);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(hash_token(&token), Some(stored));
    let (other, other_stored) = generate_token().unwrap();
    assert_ne!(token, other);
    assert_ne!(stored, other_stored);
    // Near misses: padding, the standard alphabet, one character short or long.
    assert_eq!(hash_token(&format!("{token}=")), None);
    assert_eq!(hash_token(&token[..42]), None);
    assert_eq!(hash_token(&format!("{token}A")), None);
    let standard = format!("{}+", &token[..42]);
    assert_eq!(hash_token(&standard), None);
}

proptest! {
    #[test]
    fn hash_token_takes_any_input_without_panicking(input in ".{0,100}") {
        if let Some(hash) = hash_token(&input) {
            prop_assert_eq!(input.len(), 43);
            prop_assert_eq!(hash.len(), 32);
        }
    }

    #[test]
    fn hash_token_takes_any_bytes_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = hash_token(&text);
    }

    #[test]
    fn near_token_shaped_input_is_handled(input in "[A-Za-z0-9_+/=-]{40,46}") {
        if hash_token(&input).is_some() {
            prop_assert_eq!(input.len(), 43);
            prop_assert!(!input.contains(['+', '/', '=']));
        }
    }
}

#[test]
fn csrf_tokens_are_bound_to_their_session_and_keyring() {
    let vault = Vault::new(Keyring::generate().unwrap());
    let session = SessionId::new();
    let token = vault.csrf_token(&session);
    assert!(vault.verify_csrf(&session, &token));
    assert_eq!(vault.mac_key().csrf_token(&session), token);
    assert!(!vault.verify_csrf(&SessionId::new(), &token));
    let stranger = Vault::new(Keyring::generate().unwrap());
    assert!(!stranger.verify_csrf(&session, &token));
    for bad in [
        "",
        "x",
        &token[..42],
        &format!("{token}A"),
        &format!("{}A", &token[..42]),
    ] {
        if bad != token {
            assert!(!vault.verify_csrf(&session, bad), "{bad}");
        }
    }
}
