//! Health documents: their kinds, the content types Tiaki accepts, and the parsed
//! title and filename that replace raw strings at the edge.

use crate::ids::{AccountId, DocumentId, PatientId, PracticeId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a document is, clinically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    DischargeSummary,
    ReferralLetter,
    LabReport,
    ClinicalLetter,
    PatientUpload,
}

impl DocumentKind {
    pub const ALL: [Self; 5] = [
        Self::DischargeSummary,
        Self::ReferralLetter,
        Self::LabReport,
        Self::ClinicalLetter,
        Self::PatientUpload,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DischargeSummary => "discharge_summary",
            Self::ReferralLetter => "referral_letter",
            Self::LabReport => "lab_report",
            Self::ClinicalLetter => "clinical_letter",
            Self::PatientUpload => "patient_upload",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::DischargeSummary => "Discharge summary",
            Self::ReferralLetter => "Referral letter",
            Self::LabReport => "Lab report",
            Self::ClinicalLetter => "Clinical letter",
            Self::PatientUpload => "Patient upload",
        }
    }
}

/// The content types Tiaki stores. Anything a browser could run (HTML, SVG, scripts) is
/// absent by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContentType {
    #[serde(rename = "application/pdf")]
    Pdf,
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "text/plain")]
    Text,
}

impl ContentType {
    pub const ALL: [Self; 4] = [Self::Pdf, Self::Jpeg, Self::Png, Self::Text];

    #[must_use]
    pub fn mime(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Text => "text/plain",
        }
    }

    /// Parses a declared MIME type (parameters such as `; charset=utf-8` are ignored).
    #[must_use]
    pub fn from_mime(declared: &str) -> Option<Self> {
        let essence = declared.split(';').next().unwrap_or("").trim();
        let essence = essence.to_ascii_lowercase();
        match essence.as_str() {
            "image/jpg" => Some(Self::Jpeg),
            other => Self::ALL.into_iter().find(|c| c.mime() == other),
        }
    }

    /// The extension a served file gets.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Text => "txt",
        }
    }

    /// Whether the first bytes of a file are what this type must begin with. For text,
    /// the head must be UTF-8 (a truncated final character is allowed) with no NUL and
    /// nothing a browser would take for markup.
    #[must_use]
    pub fn matches_head(self, head: &[u8]) -> bool {
        match self {
            Self::Pdf => head.starts_with(b"%PDF-"),
            Self::Jpeg => head.starts_with(&[0xFF, 0xD8, 0xFF]),
            Self::Png => head.starts_with(b"\x89PNG\r\n\x1a\n"),
            Self::Text => is_plain_text_head(head),
        }
    }
}

fn is_plain_text_head(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // A multi-byte character cut by the head boundary is still text.
        Err(e) if e.error_len().is_none() => {
            let valid = head.get(..e.valid_up_to()).unwrap_or_default();
            std::str::from_utf8(valid).unwrap_or_default()
        }
        Err(_) => return false,
    };
    if text.contains('\0') {
        return false;
    }
    let start: String = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    const MARKUP: [&str; 6] = ["<!doctype", "<html", "<svg", "<?xml", "<script", "<head"];
    !MARKUP.iter().any(|m| start.starts_with(m))
}

/// A document title: 1–200 characters, no control characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    #[error("a title is required")]
    Empty,
    #[error("a title can be at most 200 characters")]
    TooLong,
    #[error("a title cannot contain control characters")]
    Control,
}

impl Title {
    pub fn parse(input: &str) -> Result<Self, TitleError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(TitleError::Empty);
        }
        if trimmed.chars().count() > 200 {
            return Err(TitleError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(TitleError::Control);
        }
        Ok(Self(trimmed.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Title {
    type Error = TitleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Title> for String {
    fn from(t: Title) -> Self {
        t.0
    }
}

/// A filename safe to store and to put in a `Content-Disposition` header: no path,
/// no control characters, no leading dots, only a conservative character set, at most
/// 100 characters with the extension kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Filename(String);

const FILENAME_MAX: usize = 100;

impl Filename {
    /// Never fails: anything unusable becomes `_`, and an empty result becomes
    /// `document`.
    #[must_use]
    pub fn sanitize(input: &str) -> Self {
        let base = input.rsplit(['/', '\\']).next().unwrap_or_default();
        let cleaned: String = base
            .chars()
            .filter(|c| !c.is_control())
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '(' | ')') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let cleaned = cleaned.trim().trim_start_matches('.').trim().to_owned();
        let cleaned = if cleaned.chars().all(|c| c == '_' || c == '.') {
            String::new()
        } else {
            cleaned
        };
        let shortened = if cleaned.len() > FILENAME_MAX {
            match cleaned.rsplit_once('.') {
                Some((stem, ext)) if ext.len() <= 10 && !stem.is_empty() => {
                    let keep = FILENAME_MAX - ext.len() - 1;
                    format!("{}.{ext}", stem.get(..keep).unwrap_or(stem))
                }
                _ => cleaned.get(..FILENAME_MAX).unwrap_or_default().to_owned(),
            }
        } else {
            cleaned
        };
        if shortened.is_empty() {
            Self("document".to_owned())
        } else {
            Self(shortened)
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for Filename {
    fn from(s: String) -> Self {
        Self::sanitize(&s)
    }
}

impl From<Filename> for String {
    fn from(f: Filename) -> Self {
        f.0
    }
}

/// What the database knows about a document: never its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentMeta {
    pub id: DocumentId,
    pub patient: PatientId,
    pub practice: PracticeId,
    pub kind: DocumentKind,
    pub title: Title,
    pub filename: Filename,
    pub content_type: ContentType,
    pub size_bytes: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub uploaded_by: AccountId,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hostile_filenames_are_made_safe() {
        assert_eq!(Filename::sanitize("../../etc/passwd").as_str(), "passwd");
        assert_eq!(Filename::sanitize("..\\..\\boot.ini").as_str(), "boot.ini");
        assert_eq!(Filename::sanitize(".htaccess").as_str(), "htaccess");
        assert_eq!(Filename::sanitize("a\u{0}b\r\nc.pdf").as_str(), "abc.pdf");
        assert_eq!(
            Filename::sanitize("re\"port\";.pdf").as_str(),
            "re_port__.pdf"
        );
        assert_eq!(Filename::sanitize("").as_str(), "document");
        assert_eq!(Filename::sanitize("../").as_str(), "document");
        assert_eq!(Filename::sanitize("....").as_str(), "document");
        let long = format!("{}.pdf", "x".repeat(5000));
        let f = Filename::sanitize(&long);
        assert_eq!(f.as_str().len(), FILENAME_MAX);
        assert!(f.as_str().ends_with(".pdf"));
        assert_eq!(Filename::sanitize("résumé.pdf").as_str(), "r_sum_.pdf");
    }

    #[test]
    fn magic_bytes_decide_types() {
        assert!(ContentType::Pdf.matches_head(b"%PDF-1.7\n"));
        assert!(!ContentType::Pdf.matches_head(b"<html>"));
        assert!(ContentType::Png.matches_head(b"\x89PNG\r\n\x1a\n...."));
        assert!(ContentType::Jpeg.matches_head(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(ContentType::Text.matches_head("Kia ora, e hoa — notes".as_bytes()));
        assert!(!ContentType::Text.matches_head(b"  <!DOCTYPE html><html>"));
        assert!(!ContentType::Text.matches_head(b"<svg xmlns="));
        assert!(!ContentType::Text.matches_head(b"bin\0ary"));
        assert!(!ContentType::Text.matches_head(&[0xFF, 0xFE, 0x00]));
        // A multi-byte character split at the end of the head is still text.
        let mut head = "abc".as_bytes().to_vec();
        head.push(0xE2);
        assert!(ContentType::Text.matches_head(&head));
    }

    #[test]
    fn declared_types_parse() {
        assert_eq!(
            ContentType::from_mime("application/PDF"),
            Some(ContentType::Pdf)
        );
        assert_eq!(
            ContentType::from_mime("text/plain; charset=utf-8"),
            Some(ContentType::Text)
        );
        assert_eq!(ContentType::from_mime("image/jpg"), Some(ContentType::Jpeg));
        assert_eq!(ContentType::from_mime("text/html"), None);
        assert_eq!(ContentType::from_mime("image/svg+xml"), None);
    }

    #[test]
    fn titles_are_checked() {
        assert_eq!(
            Title::parse("  Discharge summary ").unwrap().as_str(),
            "Discharge summary"
        );
        assert_eq!(Title::parse("   "), Err(TitleError::Empty));
        assert_eq!(Title::parse(&"x".repeat(201)), Err(TitleError::TooLong));
        assert_eq!(Title::parse("a\u{7}b"), Err(TitleError::Control));
    }

    proptest! {
        #[test]
        fn sanitized_filenames_are_always_safe(input in "\\PC{0,300}") {
            let f = Filename::sanitize(&input);
            let s = f.as_str();
            prop_assert!(!s.is_empty() && s.len() <= FILENAME_MAX);
            prop_assert!(!s.contains('/') && !s.contains('\\') && !s.starts_with('.'));
            prop_assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || "._- ()".contains(c)));
        }
    }
}
