//! What a new password must be, following NIST SP 800-63B: long enough, not on a list
//! of passwords attackers try first, and not easy to guess — with no rules about
//! character classes, which only push people to `Password1!`.
//!
//! - 8 to 256 characters, any characters at all (spaces, emoji, te reo Māori macrons);
//!   15 or more is suggested.
//! - Not one of the 21,648 common and breached passwords bundled in
//!   `data/common-passwords.txt` (see `data/README.md` for their sources), ignoring case.
//! - Not weak by the zxcvbn strength estimator (score 3 of 4 or better, i.e. more than
//!   about 10^8 guesses), which also catches the person's own username and name,
//!   keyboard walks, repeats, dates and dictionary words with l33t substitutions.
//!
//! Every refusal says why, kindly, and what would work instead.

use secrecy::{ExposeSecret, SecretString};
use std::collections::HashSet;
use std::sync::LazyLock;
use zxcvbn::Score;

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 256;
pub const SUGGESTED_CHARS: usize = 15;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .filter(|l| !l.is_empty())
        .collect()
});

/// How many passwords the bundled list holds.
#[must_use]
pub fn common_list_len() -> usize {
    COMMON.len()
}

/// Why a new password was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort,
    TooLong,
    Common,
    Guessable {
        warning: Option<String>,
        suggestions: Vec<String>,
    },
}

impl PasswordProblem {
    /// A machine-readable code for the API.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort => "password_too_short",
            Self::TooLong => "password_too_long",
            Self::Common => "password_common",
            Self::Guessable { .. } => "password_guessable",
        }
    }

    /// What to tell the person.
    #[must_use]
    pub fn message(&self) -> String {
        let tip = "A passphrase of three or four unrelated words is long, strong and easy to \
                   remember.";
        match self {
            Self::TooShort => format!(
                "Please use at least {MIN_CHARS} characters ({SUGGESTED_CHARS} or more is \
                 better). {tip}"
            ),
            Self::TooLong => format!(
                "That is longer than Tiaki can accept ({MAX_CHARS} characters). Please choose \
                 something a little shorter."
            ),
            Self::Common => format!(
                "That password is on the lists attackers try first — it has turned up in data \
                 breaches or is very commonly used — so it would not keep your health \
                 information safe. Please choose a different one. {tip}"
            ),
            Self::Guessable {
                warning,
                suggestions,
            } => {
                let mut message = String::from(
                    "That password would be too easy for someone to guess, so please choose a \
                     stronger one.",
                );
                if let Some(w) = warning {
                    message.push(' ');
                    message.push_str(w);
                }
                for s in suggestions {
                    message.push(' ');
                    message.push_str(s);
                }
                if suggestions.is_empty() {
                    message.push(' ');
                    message.push_str(tip);
                }
                message
            }
        }
    }
}

/// Checks a new password. `personal` holds what an attacker would know about the
/// person (username, display name): a password built from them is weak.
pub fn check(password: &SecretString, personal: &[&str]) -> Result<(), PasswordProblem> {
    let text = password.expose_secret();
    let chars = text.chars().count();
    if chars < MIN_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PasswordProblem::TooLong);
    }
    if COMMON.contains(text.to_lowercase().as_str()) {
        return Err(PasswordProblem::Common);
    }
    // Each word of a name or username counts too: "Ngata2024!" is as weak as "ngata".
    let mut inputs: Vec<&str> = personal.to_vec();
    inputs.extend(
        personal
            .iter()
            .flat_map(|p| p.split(|c: char| !c.is_alphanumeric()))
            .filter(|w| w.chars().count() >= 3),
    );
    inputs.extend(["tiaki", "health", "portal"]);
    // zxcvbn looks at the first 100 characters only, which keeps its cost bounded.
    let estimate = zxcvbn::zxcvbn(text, &inputs);
    if estimate.score() >= Score::Three {
        return Ok(());
    }
    let feedback = estimate.feedback();
    Err(PasswordProblem::Guessable {
        warning: feedback.and_then(|f| f.warning()).map(|w| w.to_string()),
        suggestions: feedback
            .map(|f| f.suggestions().iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn verdict(p: &str) -> Result<(), PasswordProblem> {
        check(&SecretString::from(p), &["aroha.ngata", "Aroha Ngata"])
    }

    #[test]
    fn the_bundled_list_is_tens_of_thousands_long() {
        assert!(common_list_len() > 20_000, "{}", common_list_len());
    }

    #[test]
    fn length_is_counted_in_characters_of_any_kind() {
        assert_eq!(verdict("aB3$xyz"), Err(PasswordProblem::TooShort));
        assert_eq!(verdict(""), Err(PasswordProblem::TooShort));
        assert_eq!(verdict(&"ā".repeat(257)), Err(PasswordProblem::TooLong));
        assert!(verdict("kōwhai tūī pōhutukawa").is_ok());
        assert!(verdict("🦜 kea on the roof at 3am 🦜").is_ok());
        assert!(verdict(&"correct horse battery staple ".repeat(8)).is_ok());
    }

    #[test]
    fn common_and_breached_passwords_are_refused_whatever_their_case() {
        for p in [
            "password1",
            "PASSWORD1",
            "iloveyou2",
            "qwertyuiop",
            "1q2w3e4r5t",
        ] {
            assert_eq!(verdict(p), Err(PasswordProblem::Common), "{p}");
        }
    }

    #[test]
    fn guessable_passwords_are_refused_with_a_reason() {
        for p in [
            "aroha.ngata1",
            "aaaaaaaaaaaa",
            "Ngata2024!",
            "abcdefgh1234",
            "Summer2024!",
            "P@ssw0rd2026",
        ] {
            let problem = verdict(p).unwrap_err();
            assert!(
                matches!(
                    problem,
                    PasswordProblem::Guessable { .. } | PasswordProblem::Common
                ),
                "{p}: {problem:?}"
            );
            let message = problem.message();
            assert!(message.len() > 40, "{message}");
        }
        assert!(verdict("correct horse battery staple").is_ok());
        assert!(verdict("Vj8mQz2pLr4tWx").is_ok());
    }
}
