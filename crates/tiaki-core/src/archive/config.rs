//! Retention rules and the archive key, from the `[core.archive]` table of the
//! configuration file:
//!
//! ```toml
//! [core.archive]
//! public_key = "…64 hex digits…"   # from `tiaki archive keygen`; the private key stays offline
//! batch_size = 100                  # documents archived per transaction
//!
//! [core.archive.retention]          # years after which a kind goes to the archive, or "never"
//! discharge_summary = 2
//! referral_letter = 2
//! clinical_letter = 5
//! lab_report = 5
//! patient_upload = "never"
//! ```
//!
//! The defaults move hospital letters off-line two years after they were added: the
//! portal keeps what a patient is likely to look at, and a discharge summary six to
//! eight years old is no longer sitting online. Archiving is not deletion: an archived
//! document is kept, sealed to a key the live system does not hold, and comes back on
//! request.

use serde::{Deserialize, Serialize};
use tiaki_crypto::hpke::PublicKey;
use tiaki_domain::DocumentKind;

/// The longest retention a rule may name, in years.
pub const MAX_YEARS: i64 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// The archive's X25519 public key, 64 hex digits. Without it nothing is archived.
    pub public_key: Option<String>,
    /// Documents archived per transaction (1–1000).
    pub batch_size: u32,
    /// When each kind of document goes to the archive.
    pub retention: RetentionRules,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            public_key: None,
            batch_size: 100,
            retention: RetentionRules::default(),
        }
    }
}

/// One rule per document kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionRules {
    pub discharge_summary: Retention,
    pub referral_letter: Retention,
    pub clinical_letter: Retention,
    pub lab_report: Retention,
    pub patient_upload: Retention,
}

impl Default for RetentionRules {
    fn default() -> Self {
        Self {
            discharge_summary: Retention::Years(2),
            referral_letter: Retention::Years(2),
            clinical_letter: Retention::Years(5),
            lab_report: Retention::Years(5),
            // A patient's own uploads are theirs to keep or remove.
            patient_upload: Retention::Never(Never::Never),
        }
    }
}

/// A whole number of years, or `"never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Retention {
    Years(i64),
    Never(Never),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Never {
    Never,
}

impl RetentionRules {
    /// The rule for `kind`.
    #[must_use]
    pub fn of(&self, kind: DocumentKind) -> Retention {
        match kind {
            DocumentKind::DischargeSummary => self.discharge_summary,
            DocumentKind::ReferralLetter => self.referral_letter,
            DocumentKind::ClinicalLetter => self.clinical_letter,
            DocumentKind::LabReport => self.lab_report,
            DocumentKind::PatientUpload => self.patient_upload,
        }
    }

    /// Every kind that is archived, with its years.
    #[must_use]
    pub fn archived_kinds(&self) -> Vec<(DocumentKind, u16)> {
        DocumentKind::ALL
            .into_iter()
            .filter_map(|kind| match self.of(kind) {
                Retention::Years(years) => u16::try_from(years).ok().map(|y| (kind, y)),
                Retention::Never(_) => None,
            })
            .collect()
    }
}

impl ArchiveConfig {
    /// Checks every value, naming the setting that is wrong and what it must be.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1000).contains(&self.batch_size) {
            return Err(format!(
                "core.archive.batch_size must be between 1 and 1000 (it is {})",
                self.batch_size
            ));
        }
        for kind in DocumentKind::ALL {
            if let Retention::Years(years) = self.retention.of(kind)
                && !(1..=MAX_YEARS).contains(&years)
            {
                return Err(format!(
                    "core.archive.retention.{} must be a number of years from 1 to {MAX_YEARS}, \
                     or \"never\" (it is {years})",
                    kind.as_str()
                ));
            }
        }
        self.archive_key()?;
        Ok(())
    }

    /// The archive public key, if one is configured.
    pub fn archive_key(&self) -> Result<Option<PublicKey>, String> {
        self.public_key
            .as_deref()
            .map(|hex| {
                PublicKey::from_hex(hex).map_err(|_| {
                    "core.archive.public_key must be the 64 hex digits `tiaki archive keygen` \
                     printed"
                        .to_owned()
                })
            })
            .transpose()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<ArchiveConfig, String> {
        let config: ArchiveConfig = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn defaults_archive_hospital_letters_and_keep_uploads() {
        let config = parse("").unwrap();
        assert_eq!(
            config.retention.of(DocumentKind::DischargeSummary),
            Retention::Years(2)
        );
        assert_eq!(
            config.retention.of(DocumentKind::PatientUpload),
            Retention::Never(Never::Never)
        );
        assert!(
            !config
                .retention
                .archived_kinds()
                .iter()
                .any(|(k, _)| *k == DocumentKind::PatientUpload)
        );
        assert_eq!(config.archive_key().unwrap(), None);
    }

    #[test]
    fn rules_and_keys_parse() {
        let key = "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a";
        let config = parse(&format!(
            "public_key = \"{key}\"\nbatch_size = 7\n[retention]\ndischarge_summary = 6\nlab_report = \"never\"\n"
        ))
        .unwrap();
        assert_eq!(config.batch_size, 7);
        assert_eq!(
            config.retention.of(DocumentKind::DischargeSummary),
            Retention::Years(6)
        );
        assert_eq!(
            config.retention.of(DocumentKind::ReferralLetter),
            Retention::Years(2)
        );
        assert_eq!(
            config.retention.of(DocumentKind::LabReport),
            Retention::Never(Never::Never)
        );
        assert_eq!(config.archive_key().unwrap().unwrap().to_hex(), key);
    }

    #[test]
    fn bad_values_are_named() {
        let err = parse("[retention]\ndischarge_summary = 0\n").unwrap_err();
        assert!(
            err.contains("core.archive.retention.discharge_summary"),
            "{err}"
        );
        let err = parse("[retention]\nlab_report = -3\n").unwrap_err();
        assert!(err.contains("retention.lab_report"), "{err}");
        let err = parse("[retention]\nlab_report = 101\n").unwrap_err();
        assert!(err.contains("from 1 to 100"), "{err}");
        assert!(parse("[retention]\nlab_report = \"sometimes\"\n").is_err());
        let err = parse("[retention]\ndischarge_sumary = 3\n").unwrap_err();
        assert!(err.contains("discharge_sumary"), "{err}");
        let err = parse("batch_size = 0\n").unwrap_err();
        assert!(err.contains("batch_size"), "{err}");
        let err = parse("public_key = \"abc\"\n").unwrap_err();
        assert!(err.contains("core.archive.public_key"), "{err}");
    }
}
