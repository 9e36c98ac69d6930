//! Patient search, decided once for both backends.
//!
//! Names are matched on folded copies stored beside them (`search_given`,
//! `search_family`, `search_full` = "given family"): lower-cased, whitespace collapsed,
//! macrons and common accents removed, so "ngati" finds "Ngāti" and "SMITH" finds
//! "Smith". Folding happens here, in Rust, because SQLite's `lower()` only knows ASCII.
//! A prefix match is the byte range `[q, q + U+10FFFF)`, which an ordinary B-tree index
//! answers on both backends (PostgreSQL declares these columns `COLLATE "C"`).

use tiaki_domain::Nhi;

/// What a search box's text asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatientQuery {
    /// Exactly this NHI.
    Nhi(Nhi),
    /// Names starting with this folded prefix; `upper` is the exclusive bound.
    Name { prefix: String, upper: String },
    /// Nothing to search for.
    Nothing,
}

impl PatientQuery {
    pub(crate) fn parse(query: &str) -> Self {
        if let Ok(nhi) = Nhi::parse(query) {
            return Self::Nhi(nhi);
        }
        let prefix = fold(query);
        if prefix.is_empty() {
            return Self::Nothing;
        }
        let upper = format!("{prefix}\u{10FFFF}");
        Self::Name { prefix, upper }
    }
}

/// The folded search columns of a patient: given, family, "given family".
pub(crate) fn search_columns(given: &str, family: &str) -> (String, String, String) {
    let given = fold(given);
    let family = fold(family);
    let full = fold(&format!("{given} {family}"));
    (given, family, full)
}

/// Lower-cases, strips diacritics common in Aotearoa names, collapses whitespace.
pub(crate) fn fold(s: &str) -> String {
    let lowered: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { strip_accent(c) })
        .collect();
    lowered.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn strip_accent(c: char) -> char {
    match c {
        'ā' | 'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'ē' | 'é' | 'è' | 'ê' | 'ë' => 'e',
        'ī' | 'í' | 'ì' | 'î' | 'ï' => 'i',
        'ō' | 'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
        'ū' | 'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn nhi_queries_are_exact() {
        assert_eq!(
            PatientQuery::parse(" zac5361 "),
            PatientQuery::Nhi(Nhi::parse("ZAC5361").unwrap())
        );
    }

    #[test]
    fn names_fold() {
        assert_eq!(fold("  Te   Ngāti  WHĀTUA "), "te ngati whatua");
        assert_eq!(search_columns("Aroha ", "Ngāta").2, "aroha ngata");
        match PatientQuery::parse("ARO") {
            PatientQuery::Name { prefix, upper } => {
                assert_eq!(prefix, "aro");
                assert!("aroha" > prefix.as_str() && "aroha" < upper.as_str());
                assert!("arp" > upper.as_str());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(PatientQuery::parse("   "), PatientQuery::Nothing);
    }
}
