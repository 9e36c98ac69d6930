//! The reference a served copy carries: the audit receipt's access id and a MAC over
//! it, so a reference found in a leaked file can be checked — one made up, or copied
//! with its id altered, does not verify.
//!
//! `TK1` followed by 39 base-32 characters (an unambiguous alphabet: no i, l, o, u):
//! 16 bytes of access id and 8 bytes of HMAC-SHA256 under a key derived from the
//! keyring's MAC key. Short enough for a page footer, long enough that a guess verifies
//! once in 2^64.

use tiaki_crypto::MacKey;
use tiaki_domain::AccessId;
use uuid::Uuid;

pub const PREFIX: &str = "TK1";
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const RAW_LEN: usize = 24;
const TAG_LEN: usize = 8;
/// Characters after the prefix.
pub const BODY_LEN: usize = 39;
const PURPOSE: &str = "tiaki/leak-reference/v1";

/// A reference read from a file: well-formed, not yet verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    pub access_id: AccessId,
    tag: [u8; TAG_LEN],
}

impl Reference {
    /// The reference for a served copy.
    #[must_use]
    pub fn issue(mac: &MacKey, access_id: AccessId) -> Self {
        Self {
            access_id,
            tag: tag(mac, access_id),
        }
    }

    /// Whether the MAC is right: the reference was made by this installation.
    #[must_use]
    pub fn verify(&self, mac: &MacKey) -> bool {
        let expected = tag(mac, self.access_id);
        // Constant time: every byte is compared.
        expected
            .iter()
            .zip(self.tag.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// Parses `TK1…` (exactly the prefix and 39 characters of the alphabet).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_prefix(PREFIX)?;
        if body.len() != BODY_LEN {
            return None;
        }
        let raw = decode(body.as_bytes())?;
        let (id, tag) = raw.split_at(16);
        Some(Self {
            access_id: AccessId::from_uuid(Uuid::from_bytes(id.try_into().ok()?)),
            tag: tag.try_into().ok()?,
        })
    }

    /// Every well-formed reference in `bytes`, in order, without repeats.
    #[must_use]
    pub fn find_all(bytes: &[u8]) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        let prefix = PREFIX.as_bytes();
        let total = prefix.len() + BODY_LEN;
        let mut at = 0;
        while let Some(rest) = bytes.get(at..) {
            let Some(i) = super::pdf::find(rest, prefix) else {
                break;
            };
            let start = at + i;
            at = start + 1;
            let Some(candidate) = bytes.get(start..start + total) else {
                break;
            };
            let Ok(text) = std::str::from_utf8(candidate) else {
                continue;
            };
            // What follows is not looked at: in a PNG chunk the reference is followed by
            // its CRC, which may well be letters. The MAC decides what is real.
            if Self::parse(text).is_some() && !found.iter().any(|f| f == text) {
                found.push(text.to_owned());
            }
        }
        found
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = [0u8; RAW_LEN];
        let (id, tag) = raw.split_at_mut(16);
        id.copy_from_slice(self.access_id.as_uuid().as_bytes());
        tag.copy_from_slice(&self.tag);
        f.write_str(PREFIX)?;
        f.write_str(&encode(&raw))
    }
}

fn tag(mac: &MacKey, access_id: AccessId) -> [u8; TAG_LEN] {
    let full = mac.tag(PURPOSE, access_id.as_uuid().as_bytes());
    let mut tag = [0u8; TAG_LEN];
    for (dst, src) in tag.iter_mut().zip(full.iter()) {
        *dst = *src;
    }
    tag
}

fn encode(raw: &[u8; RAW_LEN]) -> String {
    let mut out = String::with_capacity(BODY_LEN);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in raw {
        buffer = buffer << 8 | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(symbol(buffer >> bits)));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(symbol(buffer << (5 - bits))));
    }
    out
}

fn symbol(value: u32) -> u8 {
    ALPHABET
        .get(usize::try_from(value & 31).unwrap_or(0))
        .copied()
        .unwrap_or(b'0')
}

fn decode(text: &[u8]) -> Option<[u8; RAW_LEN]> {
    let mut out = [0u8; RAW_LEN];
    let mut filled = 0;
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &c in text {
        let value = ALPHABET.iter().position(|&a| a == c)?;
        buffer = buffer << 5 | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(filled)? = u8::try_from((buffer >> bits) & 0xff).ok()?;
            filled += 1;
            buffer &= (1 << bits) - 1;
        }
    }
    // Canonical: every byte filled and the leftover padding bits zero.
    (filled == RAW_LEN && buffer == 0).then_some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tiaki_crypto::Keyring;

    fn mac() -> MacKey {
        let dir = tempfile::tempdir().unwrap();
        let (keyring, _) = Keyring::load_or_create(&dir.path().join("k.json")).unwrap();
        keyring.mac_key()
    }

    #[test]
    fn a_reference_round_trips_and_verifies_only_unaltered() {
        let mac = mac();
        let id = AccessId::new();
        let reference = Reference::issue(&mac, id);
        let text = reference.to_string();
        assert_eq!(text.len(), PREFIX.len() + BODY_LEN);
        let parsed = Reference::parse(&text).unwrap();
        assert_eq!(parsed.access_id, id);
        assert!(parsed.verify(&mac));
        // Another id with the same tag: well-formed, but it does not verify.
        let forged = Reference {
            access_id: AccessId::new(),
            ..parsed
        };
        assert!(Reference::parse(&forged.to_string()).is_some());
        assert!(!forged.verify(&mac));
        assert!(!parsed.verify(&super::tests::mac()), "another keyring");
    }

    #[test]
    fn references_are_found_in_surrounding_bytes_and_junk_is_not() {
        let mac = mac();
        let a = Reference::issue(&mac, AccessId::new()).to_string();
        let b = Reference::issue(&mac, AccessId::new()).to_string();
        // `b` runs straight on into letters, as a PNG chunk's CRC may.
        let bytes = format!("xx({a}) TK1short TK1{} {a} {b}xyz", "z".repeat(45));
        assert_eq!(Reference::find_all(bytes.as_bytes()), vec![a, b]);
        assert!(Reference::parse("TK1").is_none());
        assert!(Reference::parse(&format!("TK1{}", "i".repeat(39))).is_none());
    }
}
