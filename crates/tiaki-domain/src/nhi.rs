//! National Health Index numbers, parsed per HISO 10046:2023.
//!
//! Two formats are valid: the original `AAANNNC` (three letters, three digits, a check
//! digit computed mod 11) and the new `AAANNAC` (three letters, two digits, a letter and
//! a check letter computed mod 23). Letters exclude `I` and `O`. NHIs starting with `Z`
//! are reserved for testing, which is what the demo data uses.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A checked NHI number, always upper case.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Nhi(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NhiError {
    #[error("an NHI number has exactly 7 characters")]
    Length,
    #[error("an NHI number is three letters, then digits (AAA9999 or AAA99AA)")]
    Shape,
    #[error("the NHI number's check character does not match; please check it for a typo")]
    Checksum,
}

const LETTERS: &[u8; 24] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";

/// A=1 … Z=24, skipping I and O.
fn letter_value(c: u8) -> Option<u32> {
    LETTERS
        .iter()
        .position(|&l| l == c)
        .and_then(|p| u32::try_from(p + 1).ok())
}

fn letter_for(value: u32) -> Option<u8> {
    let index = usize::try_from(value.checked_sub(1)?).ok()?;
    LETTERS.get(index).copied()
}

fn digit_value(c: u8) -> Option<u32> {
    c.is_ascii_digit().then(|| u32::from(c - b'0'))
}

impl Nhi {
    /// Parses and checks an NHI; case-insensitive, surrounding spaces ignored.
    pub fn parse(input: &str) -> Result<Self, NhiError> {
        let upper = input.trim().to_ascii_uppercase();
        let bytes: [u8; 7] = upper.as_bytes().try_into().map_err(|_| NhiError::Length)?;
        let [a, b, c, d, e, f, check] = bytes;
        let mut values = [0u32; 6];
        for (slot, ch) in values.iter_mut().zip([a, b, c]) {
            *slot = letter_value(ch).ok_or(NhiError::Shape)?;
        }
        values[3] = digit_value(d).ok_or(NhiError::Shape)?;
        values[4] = digit_value(e).ok_or(NhiError::Shape)?;
        let new_format = !f.is_ascii_digit();
        values[5] = if new_format {
            letter_value(f).ok_or(NhiError::Shape)?
        } else {
            digit_value(f).ok_or(NhiError::Shape)?
        };
        let sum: u32 = values
            .iter()
            .zip([7u32, 6, 5, 4, 3, 2])
            .map(|(v, w)| v * w)
            .sum();
        if new_format {
            let remainder = sum % 23;
            if remainder == 0 || !check.is_ascii_alphabetic() {
                return Err(NhiError::Checksum);
            }
            if letter_for(23 - remainder) != Some(check) {
                return Err(NhiError::Checksum);
            }
        } else {
            let remainder = sum % 11;
            let expected = match 11 - remainder {
                11 => return Err(NhiError::Checksum),
                10 => 0,
                n => n,
            };
            if digit_value(check) != Some(expected) {
                return Err(NhiError::Checksum);
            }
        }
        Ok(Self(upper))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the `Z…` range reserved for testing.
    #[must_use]
    pub fn is_test_range(&self) -> bool {
        self.0.starts_with('Z')
    }

    /// Builds the valid new-format NHI `prefix ++ NN ++ L ++ check` for a test-range
    /// sequence number, or `None` if that combination has no valid check letter.
    /// Used by demo and synthetic data so every generated NHI is genuinely valid.
    #[must_use]
    pub fn synthesize(prefix: [u8; 3], number: u32) -> Option<Self> {
        let two = number % 100;
        let letter = letter_for(number / 100 % 24 + 1)?;
        let candidate = format!(
            "{}{}{}{:02}{}",
            char::from(prefix[0]),
            char::from(prefix[1]),
            char::from(prefix[2]),
            two,
            char::from(letter)
        );
        LETTERS
            .iter()
            .map(|&c| format!("{candidate}{}", char::from(c)))
            .find_map(|s| Self::parse(&s).ok())
    }
}

impl FromStr for Nhi {
    type Err = NhiError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Nhi {
    type Error = NhiError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Nhi> for String {
    fn from(n: Nhi) -> Self {
        n.0
    }
}

impl fmt::Display for Nhi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An NHI is identifying health information: keep it out of `{:?}` output and logs.
impl fmt::Debug for Nhi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nhi(***)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_valid_numbers_parse() {
        for valid in ["WLD9413", "ZAC5361", "ZBN77VL", "zsc21tn", " ZSC21TN "] {
            assert!(Nhi::parse(valid).is_ok(), "{valid} should be valid");
        }
        assert_eq!(Nhi::parse("zbn77vl").unwrap().as_str(), "ZBN77VL");
    }

    #[test]
    fn known_invalid_numbers_are_rejected() {
        assert_eq!(Nhi::parse("ZZZ0044"), Err(NhiError::Checksum));
        assert_eq!(Nhi::parse("ZZZ00AA"), Err(NhiError::Checksum));
        assert_eq!(Nhi::parse("WLD9414"), Err(NhiError::Checksum));
        assert_eq!(Nhi::parse("ZBN77VM"), Err(NhiError::Checksum));
        assert_eq!(Nhi::parse("WLD941"), Err(NhiError::Length));
        assert_eq!(Nhi::parse("WLD94133"), Err(NhiError::Length));
        assert_eq!(
            Nhi::parse("WID9413"),
            Err(NhiError::Shape),
            "I is never used"
        );
        assert_eq!(
            Nhi::parse("WOD9413"),
            Err(NhiError::Shape),
            "O is never used"
        );
        assert_eq!(Nhi::parse("1LD9413"), Err(NhiError::Shape));
        assert_eq!(Nhi::parse("WLDA413"), Err(NhiError::Shape));
        assert_eq!(Nhi::parse("ZBN7AVL"), Err(NhiError::Shape));
        assert_eq!(Nhi::parse("ZBN77V1"), Err(NhiError::Checksum));
        assert_eq!(Nhi::parse("WLD941ä"), Err(NhiError::Length));
    }

    #[test]
    fn debug_output_hides_the_number() {
        let nhi = Nhi::parse("ZAC5361").unwrap();
        assert!(!format!("{nhi:?}").contains("5361"));
    }

    #[test]
    fn synthesized_numbers_are_valid_and_distinct() {
        let made: Vec<Nhi> = (0..500)
            .filter_map(|n| Nhi::synthesize(*b"ZTK", n))
            .collect();
        assert!(
            made.len() > 400,
            "most sequence numbers have a check letter"
        );
        let mut unique = made.clone();
        unique.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        unique.dedup();
        assert_eq!(unique.len(), made.len());
        assert!(made.iter().all(Nhi::is_test_range));
    }

    fn weighted_sum(s: &[u8]) -> u32 {
        s.iter()
            .take(6)
            .zip([7u32, 6, 5, 4, 3, 2])
            .map(|(&c, w)| w * digit_value(c).or_else(|| letter_value(c)).unwrap())
            .sum()
    }

    proptest! {
        /// Exactly one check character makes a valid number from any valid body.
        #[test]
        fn exactly_one_check_character_is_valid(
            letters in proptest::collection::vec(0usize..24, 4),
            digits in proptest::collection::vec(0u8..10, 3),
            new_format in any::<bool>(),
        ) {
            let l = |i: usize| char::from(LETTERS[letters[i]]);
            let d = |i: usize| char::from(b'0' + digits[i]);
            let body = if new_format {
                format!("{}{}{}{}{}{}", l(0), l(1), l(2), d(0), d(1), l(3))
            } else {
                format!("{}{}{}{}{}{}", l(0), l(1), l(2), d(0), d(1), d(2))
            };
            let candidates: Vec<u8> = if new_format { LETTERS.to_vec() } else { (b'0'..=b'9').collect() };
            let valid: Vec<u8> = candidates
                .iter()
                .copied()
                .filter(|&c| Nhi::parse(&format!("{body}{}", char::from(c))).is_ok())
                .collect();
            let modulus = if new_format { 23 } else { 11 };
            if weighted_sum(body.as_bytes()).is_multiple_of(modulus) {
                prop_assert!(valid.is_empty());
            } else {
                prop_assert_eq!(valid.len(), 1);
            }
        }

        /// Changing the check character of a valid number is always caught, and every
        /// synthesized number is valid.
        #[test]
        fn a_wrong_check_character_is_detected(n in 0u32..2400, c in 0usize..24) {
            if let Some(nhi) = Nhi::synthesize(*b"ZQX", n) {
                let mut bytes = nhi.as_str().as_bytes().to_vec();
                prop_assume!(bytes[6] != LETTERS[c]);
                bytes[6] = LETTERS[c];
                let changed = String::from_utf8(bytes).unwrap();
                prop_assert!(Nhi::parse(&changed).is_err(), "{} -> {}", nhi, changed);
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,12}") {
            let _ = Nhi::parse(&s);
        }
    }
}
