//! Hybrid public key encryption (HPKE, RFC 9180), base mode, for one cipher suite:
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305 (suite ids 0x0020, 0x0001,
//! 0x0003).
//!
//! The cold archive seals each archived document's data key to an offline X25519 public
//! key with it, so the online system can seal but never open (see `envelope/archive.rs`).
//! Only the single-shot use is public; the tests check every step against the RFC's
//! Appendix A.2 vectors. The `hpke` crate is not used because it still depends on the
//! previous RustCrypto generation (x25519-dalek 2, chacha20poly1305 0.10).
//!
//! Opening is private to the crate, like every other unwrapping: the only caller is the
//! archive restore, which re-wraps the key it recovers without ever returning it.

use crate::error::CryptoError;
use crate::random;
use chacha20poly1305::aead::{AeadInOut, Nonce, Tag};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use curve25519_dalek::montgomery::MontgomeryPoint;
use hkdf::Hkdf;
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Bytes in an X25519 public or private key, and in an encapsulated key.
pub const KEY_LEN: usize = 32;
/// Bytes the AEAD adds to a sealed message.
pub const TAG_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const MODE_BASE: u8 = 0x00;
/// `"KEM" ‖ I2OSP(kem_id, 2)`.
const KEM_SUITE_ID: &[u8] = b"KEM\x00\x20";
/// `"HPKE" ‖ I2OSP(kem_id, 2) ‖ I2OSP(kdf_id, 2) ‖ I2OSP(aead_id, 2)`.
const HPKE_SUITE_ID: &[u8] = b"HPKE\x00\x20\x00\x01\x00\x03";

/// An X25519 public key: the archive key that sealing needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey([u8; KEY_LEN]);

impl PublicKey {
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    #[must_use]
    pub fn to_bytes(self) -> [u8; KEY_LEN] {
        self.0
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let mut bytes = [0u8; KEY_LEN];
        hex::decode_to_slice(text.trim(), &mut bytes)
            .map_err(|_| CryptoError::Malformed("an X25519 public key is 64 hex digits"))?;
        Ok(Self(bytes))
    }

    #[must_use]
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// An X25519 private key. Wiped on drop, never printed.
#[derive(Clone)]
pub struct PrivateKey(Zeroizing<[u8; KEY_LEN]>);

impl PrivateKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(random::key()?))
    }

    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        hex::decode_to_slice(text.trim(), bytes.as_mut_slice())
            .map_err(|_| CryptoError::Malformed("an X25519 private key is 64 hex digits"))?;
        Ok(Self(bytes))
    }

    /// The key as 64 hex digits, for writing the offline key file.
    #[must_use]
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_slice()))
    }

    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey(MontgomeryPoint::mul_base_clamped(*self.0).to_bytes())
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey([redacted])")
    }
}

/// What a single-shot seal produces: the encapsulated key and the ciphertext with its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub enc: [u8; KEY_LEN],
    pub ciphertext: Vec<u8>,
}

/// `SealBase` then one `Seal`: encrypts `plaintext` to `recipient`, bound to `info` and
/// `aad`.
pub(crate) fn seal(
    recipient: &PublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Sealed, CryptoError> {
    let ephemeral = PrivateKey::generate()?;
    let (enc, mut context) = setup_base_sender(recipient, &ephemeral, info)?;
    let ciphertext = context.seal(aad, plaintext)?;
    Ok(Sealed { enc, ciphertext })
}

/// `SetupBaseR` then one `Open`. Fails if any input differs from the seal's.
pub(crate) fn open(
    recipient: &PrivateKey,
    enc: &[u8; KEY_LEN],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut context = setup_base_receiver(enc, recipient, info)?;
    context.open(aad, ciphertext)
}

/// An encryption context (RFC 9180 §5.2): the AEAD key, the base nonce and the sequence
/// number, used by one side only.
struct Context {
    key: Zeroizing<[u8; 32]>,
    base_nonce: [u8; NONCE_LEN],
    seq: u64,
}

impl Context {
    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = self.base_nonce;
        for (n, s) in nonce
            .iter_mut()
            .rev()
            .zip(self.seq.to_be_bytes().into_iter().rev())
        {
            *n ^= s;
        }
        nonce
    }

    fn advance(&mut self) -> Result<(), CryptoError> {
        self.seq = self
            .seq
            .checked_add(1)
            .ok_or(CryptoError::Misuse("HPKE sequence number overflow"))?;
        Ok(())
    }

    fn seal(&mut self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = ChaCha20Poly1305::new((&*self.key).into());
        let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        out.extend_from_slice(plaintext);
        let tag = cipher
            .encrypt_inout_detached(
                &Nonce::<ChaCha20Poly1305>::from(self.nonce()),
                aad,
                out.as_mut_slice().into(),
            )
            .map_err(|_| CryptoError::Misuse("HPKE seal rejected its input"))?;
        out.extend_from_slice(tag.as_slice());
        self.advance()?;
        Ok(out)
    }

    fn open(&mut self, aad: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let body_len = ciphertext
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(CryptoError::Malformed(
                "an HPKE ciphertext is shorter than its tag",
            ))?;
        let (body, tag) = ciphertext
            .split_at_checked(body_len)
            .ok_or(CryptoError::Malformed(
                "an HPKE ciphertext is shorter than its tag",
            ))?;
        let tag = Tag::<ChaCha20Poly1305>::try_from(tag)
            .map_err(|_| CryptoError::Malformed("an HPKE tag has the wrong length"))?;
        let mut out = Zeroizing::new(body.to_vec());
        ChaCha20Poly1305::new((&*self.key).into())
            .decrypt_inout_detached(
                &Nonce::<ChaCha20Poly1305>::from(self.nonce()),
                aad,
                out.as_mut_slice().into(),
                &tag,
            )
            .map_err(|_| CryptoError::Unwrap("archived"))?;
        self.advance()?;
        Ok(out)
    }
}

/// `SetupBaseS` with a given ephemeral key (the tests pin the RFC's).
fn setup_base_sender(
    recipient: &PublicKey,
    ephemeral: &PrivateKey,
    info: &[u8],
) -> Result<([u8; KEY_LEN], Context), CryptoError> {
    let (shared_secret, enc) = encap(recipient, ephemeral)?;
    Ok((enc, key_schedule(&shared_secret, info)?))
}

fn setup_base_receiver(
    enc: &[u8; KEY_LEN],
    recipient: &PrivateKey,
    info: &[u8],
) -> Result<Context, CryptoError> {
    let shared_secret = decap(enc, recipient)?;
    key_schedule(&shared_secret, info)
}

/// X25519, refusing the all-zero output a small-order point gives (RFC 9180 §7.1.4).
fn dh(private: &PrivateKey, public: &[u8; KEY_LEN]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let shared = Zeroizing::new(MontgomeryPoint(*public).mul_clamped(*private.0).to_bytes());
    if bool::from(shared.ct_eq(&[0u8; 32])) {
        return Err(CryptoError::Malformed(
            "an X25519 public key of small order was offered",
        ));
    }
    Ok(shared)
}

/// DHKEM `Encap` with the ephemeral key given: the shared secret and `enc`.
fn encap(
    recipient: &PublicKey,
    ephemeral: &PrivateKey,
) -> Result<(Zeroizing<[u8; 32]>, [u8; KEY_LEN]), CryptoError> {
    let dh = dh(ephemeral, &recipient.0)?;
    let enc = ephemeral.public_key().0;
    let mut kem_context = [0u8; 2 * KEY_LEN];
    let (first, second) = kem_context.split_at_mut(KEY_LEN);
    first.copy_from_slice(&enc);
    second.copy_from_slice(&recipient.0);
    Ok((extract_and_expand(dh.as_slice(), &kem_context)?, enc))
}

/// DHKEM `Decap`.
fn decap(enc: &[u8; KEY_LEN], recipient: &PrivateKey) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let dh = dh(recipient, enc)?;
    let mut kem_context = [0u8; 2 * KEY_LEN];
    let (first, second) = kem_context.split_at_mut(KEY_LEN);
    first.copy_from_slice(enc);
    second.copy_from_slice(&recipient.public_key().0);
    extract_and_expand(dh.as_slice(), &kem_context)
}

fn extract_and_expand(dh: &[u8], kem_context: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let eae_prk = labeled_extract(KEM_SUITE_ID, b"", b"eae_prk", dh);
    let mut shared_secret = Zeroizing::new([0u8; 32]);
    labeled_expand(
        KEM_SUITE_ID,
        eae_prk.as_slice(),
        b"shared_secret",
        kem_context,
        shared_secret.as_mut_slice(),
    )?;
    Ok(shared_secret)
}

/// `KeySchedule` for mode_base: no PSK, no exporter (nothing here exports).
fn key_schedule(shared_secret: &[u8; 32], info: &[u8]) -> Result<Context, CryptoError> {
    let psk_id_hash = labeled_extract(HPKE_SUITE_ID, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(HPKE_SUITE_ID, b"", b"info_hash", info);
    let mut context = Vec::with_capacity(1 + 2 * 32);
    context.push(MODE_BASE);
    context.extend_from_slice(psk_id_hash.as_slice());
    context.extend_from_slice(info_hash.as_slice());
    let secret = labeled_extract(HPKE_SUITE_ID, shared_secret, b"secret", b"");
    let mut key = Zeroizing::new([0u8; 32]);
    labeled_expand(
        HPKE_SUITE_ID,
        secret.as_slice(),
        b"key",
        &context,
        key.as_mut_slice(),
    )?;
    let mut base_nonce = [0u8; NONCE_LEN];
    labeled_expand(
        HPKE_SUITE_ID,
        secret.as_slice(),
        b"base_nonce",
        &context,
        &mut base_nonce,
    )?;
    Ok(Context {
        key,
        base_nonce,
        seq: 0,
    })
}

/// `LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" ‖ suite_id ‖ label ‖ ikm)`.
fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut labeled = Zeroizing::new(Vec::with_capacity(
        7 + suite_id.len() + label.len() + ikm.len(),
    ));
    labeled.extend_from_slice(b"HPKE-v1");
    labeled.extend_from_slice(suite_id);
    labeled.extend_from_slice(label);
    labeled.extend_from_slice(ikm);
    let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), &labeled);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(prk.as_slice());
    out
}

/// `LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) ‖ "HPKE-v1" ‖ suite_id ‖
/// label ‖ info, L)`.
fn labeled_expand(
    suite_id: &[u8],
    prk: &[u8],
    label: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let length =
        u16::try_from(out.len()).map_err(|_| CryptoError::Misuse("HKDF output too long"))?;
    let hkdf = Hkdf::<Sha256>::from_prk(prk).map_err(|_| CryptoError::Misuse("HKDF key length"))?;
    let length = length.to_be_bytes();
    hkdf.expand_multi_info(&[&length, b"HPKE-v1", suite_id, label, info], out)
        .map_err(|_| CryptoError::Misuse("HKDF output too long"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    //! RFC 9180 Appendix A.2: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
    //! ChaCha20Poly1305, A.2.1 Base Setup Information and A.2.1.1 Encryptions.

    use super::*;

    const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
    const SK_EM: &str = "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600";
    const PK_EM: &str = "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a";
    const SK_RM: &str = "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb";
    const PK_RM: &str = "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a";
    const SHARED_SECRET: &str = "0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7";
    const KEY: &str = "ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91";
    const BASE_NONCE: &str = "5c4d98150661b848853b547f";
    const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
    /// (sequence number, aad, ciphertext).
    const ENCRYPTIONS: [(u64, &str, &str); 5] = [
        (
            0,
            "436f756e742d30",
            "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
        ),
        (
            1,
            "436f756e742d31",
            "6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e85285337cc95ba5f59992dc98c",
        ),
        (
            2,
            "436f756e742d32",
            "71146bd6795ccc9c49ce25dda112a48f202ad220559502cef1f34271e0cb4b02b4f10ecac6f48c32f878fae86b",
        ),
        (
            4,
            "436f756e742d34",
            "63357a2aa291f5a4e5f27db6baa2af8cf77427c7c1a909e0b37214dd47db122bb153495ff0b02e9e54a50dbe16",
        ),
        (
            255,
            "436f756e742d323535",
            "18ab939d63ddec9f6ac2b60d61d36a7375d2070c9b683861110757062c52b8880a5f6b3936da9cd6c23ef2a95c",
        ),
    ];

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn h32(s: &str) -> [u8; 32] {
        h(s).try_into().unwrap()
    }

    #[test]
    fn public_keys_are_the_rfcs() {
        assert_eq!(
            PrivateKey::from_hex(SK_EM).unwrap().public_key().to_hex(),
            PK_EM
        );
        assert_eq!(
            PrivateKey::from_hex(SK_RM).unwrap().public_key().to_hex(),
            PK_RM
        );
    }

    #[test]
    fn encap_and_decap_give_the_rfcs_shared_secret() {
        let recipient = PublicKey::from_hex(PK_RM).unwrap();
        let ephemeral = PrivateKey::from_hex(SK_EM).unwrap();
        let (shared, enc) = encap(&recipient, &ephemeral).unwrap();
        assert_eq!(hex::encode(shared.as_slice()), SHARED_SECRET);
        assert_eq!(hex::encode(enc), PK_EM);
        let decapped = decap(&enc, &PrivateKey::from_hex(SK_RM).unwrap()).unwrap();
        assert_eq!(hex::encode(decapped.as_slice()), SHARED_SECRET);
    }

    #[test]
    fn key_schedule_gives_the_rfcs_key_and_nonce() {
        let context = key_schedule(&h32(SHARED_SECRET), &h(INFO)).unwrap();
        assert_eq!(hex::encode(context.key.as_slice()), KEY);
        assert_eq!(hex::encode(context.base_nonce), BASE_NONCE);
    }

    #[test]
    fn sender_produces_the_rfcs_ciphertexts_in_sequence() {
        let recipient = PublicKey::from_hex(PK_RM).unwrap();
        let ephemeral = PrivateKey::from_hex(SK_EM).unwrap();
        let (enc, mut sender) = setup_base_sender(&recipient, &ephemeral, &h(INFO)).unwrap();
        assert_eq!(hex::encode(enc), PK_EM);
        let mut receiver =
            setup_base_receiver(&enc, &PrivateKey::from_hex(SK_RM).unwrap(), &h(INFO)).unwrap();
        for (seq, aad, ct) in ENCRYPTIONS {
            // Skipped sequence numbers are sealed and opened too, so both sides agree.
            while sender.seq < seq {
                let filler = sender.seal(b"", b"").unwrap();
                receiver.open(b"", &filler).unwrap();
            }
            assert_eq!(
                hex::encode(sender.seal(&h(aad), &h(PT)).unwrap()),
                ct,
                "seq {seq}"
            );
            assert_eq!(
                receiver.open(&h(aad), &h(ct)).unwrap().as_slice(),
                h(PT).as_slice()
            );
        }
    }

    #[test]
    fn single_shot_opens_only_with_every_input_the_same() {
        let private = PrivateKey::generate().unwrap();
        let public = private.public_key();
        let sealed = seal(&public, b"info", b"aad", b"secret").unwrap();
        assert_eq!(sealed.ciphertext.len(), 6 + TAG_LEN);
        let opened = open(&private, &sealed.enc, b"info", b"aad", &sealed.ciphertext).unwrap();
        assert_eq!(opened.as_slice(), b"secret");
        let other = PrivateKey::generate().unwrap();
        assert!(open(&other, &sealed.enc, b"info", b"aad", &sealed.ciphertext).is_err());
        assert!(open(&private, &sealed.enc, b"infO", b"aad", &sealed.ciphertext).is_err());
        assert!(open(&private, &sealed.enc, b"info", b"aaD", &sealed.ciphertext).is_err());
        let mut tampered = sealed.ciphertext.clone();
        tampered[0] ^= 1;
        assert!(open(&private, &sealed.enc, b"info", b"aad", &tampered).is_err());
        let mut enc = sealed.enc;
        enc[3] ^= 1;
        assert!(open(&private, &enc, b"info", b"aad", &sealed.ciphertext).is_err());
        assert!(
            open(
                &private,
                &sealed.enc,
                b"info",
                b"aad",
                &sealed.ciphertext[..10]
            )
            .is_err()
        );
    }

    #[test]
    fn small_order_points_are_refused() {
        // The identity (u = 0) yields an all-zero shared secret.
        let private = PrivateKey::generate().unwrap();
        assert!(seal(&PublicKey::from_bytes([0u8; 32]), b"", b"", b"x").is_err());
        assert!(open(&private, &[0u8; 32], b"", b"", &[0u8; 17]).is_err());
    }

    #[test]
    fn keys_print_no_secret() {
        let private = PrivateKey::from_hex(SK_RM).unwrap();
        assert!(!format!("{private:?}").contains(&SK_RM[..8]));
        assert!(PublicKey::from_hex("zz").is_err());
        assert!(PrivateKey::from_hex(&SK_RM[..62]).is_err());
    }
}
