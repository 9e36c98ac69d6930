//! The words of every email Tiaki sends. Plain text, short, kind; each says what
//! happened, what to do if it was not the reader, and never anything about anyone's
//! health.

use time::OffsetDateTime;

/// A message before it is addressed: a subject and a plain-text body.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub body: String,
}

impl std::fmt::Debug for Email {
    // Bodies hold one-time links: never in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Something that happened to an account that its owner should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A completed sign-in from an address and browser the account had not used.
    NewDeviceSignIn {
        at: OffsetDateTime,
        address: Option<String>,
        device: Option<String>,
    },
    /// A second factor was added, removed or replaced; `what` says which, in words
    /// ("An authenticator app was set up").
    FactorChanged { what: String },
    /// The password was changed while signed in.
    PasswordChanged,
    /// The password was set through an emailed reset link.
    PasswordReset,
    /// The account's email address was changed (sent to the old address).
    EmailChanged,
}

impl Notice {
    /// The audit and log name of the notice.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NewDeviceSignIn { .. } => "new_device_sign_in",
            Self::FactorChanged { .. } => "factor_changed",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::EmailChanged => "email_changed",
        }
    }
}

const SIGN_OFF: &str = "Ngā mihi,\nTiaki, your health portal\n\n\
This message was sent automatically. Tiaki will never ask for your password or codes by \
email or phone.";

const NOT_YOU: &str = "If this was not you, please reset your password now (use \"Forgot \
your password?\" on the sign-in page), then sign out of every other session from your \
account's Sessions page, and let your practice know.";

fn when(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[day padding:none] [month repr:long] [year] at [hour]:[minute] UTC"
    );
    at.format(&format).unwrap_or_else(|_| at.to_string())
}

/// A short, human name for a browser's user agent: enough to recognise a device.
#[must_use]
pub fn device_name(user_agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(marker, _)| user_agent.contains(marker))
    .map(|(_, name)| *name);
    let system = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "Mac"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| user_agent.contains(marker))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => s.to_owned(),
        (None, None) => user_agent.chars().take(60).collect(),
    }
}

/// A link to choose a new password.
#[must_use]
pub fn password_reset(username: &str, link: &str, minutes: i64) -> Email {
    Email {
        subject: "Reset your Tiaki password".to_owned(),
        body: format!(
            "Kia ora,\n\n\
             Someone (we hope you) asked to reset the password of the Tiaki account \
             \"{username}\".\n\n\
             To choose a new password, open this link within {minutes} minutes:\n\n\
             {link}\n\n\
             The link works once. You will still need your authenticator app (or a \
             recovery code) to sign in afterwards.\n\n\
             If you did not ask for this, you can ignore this email: your password has not \
             changed.\n\n{SIGN_OFF}\n"
        ),
    }
}

/// A link that proves the reader reads this address.
#[must_use]
pub fn verify_email(username: &str, link: &str, minutes: i64) -> Email {
    Email {
        subject: "Confirm your email address for Tiaki".to_owned(),
        body: format!(
            "Kia ora,\n\n\
             Please confirm that this is the email address for the Tiaki account \
             \"{username}\" by opening this link within {minutes} minutes:\n\n\
             {link}\n\n\
             We will use it to send you password-reset links and security notices.\n\n\
             If you did not add this address, you can ignore this email.\n\n{SIGN_OFF}\n"
        ),
    }
}

/// An invitation to register, from the patient's practice.
#[must_use]
pub fn invitation(practice: &str, link: &str, days: i64) -> Email {
    let days = if days == 1 {
        "1 day".to_owned()
    } else {
        format!("{days} days")
    };
    Email {
        subject: format!("{practice} invites you to Tiaki"),
        body: format!(
            "Kia ora,\n\n\
             {practice} has invited you to Tiaki, the portal where you can see the \
             documents your practice shares with you.\n\n\
             To create your account, open this link within {days}:\n\n\
             {link}\n\n\
             You will choose a username and password, then set up an authenticator app \
             on your phone. The link works once.\n\n\
             If you were not expecting this, you can ignore this email, or ask your \
             practice about it.\n\n{SIGN_OFF}\n"
        ),
    }
}

/// A security notice about `username`'s account.
#[must_use]
pub fn notice(username: &str, notice: &Notice) -> Email {
    let (subject, what) = match notice {
        Notice::NewDeviceSignIn {
            at,
            address,
            device,
        } => {
            let mut what = format!(
                "Your Tiaki account \"{username}\" was signed in to on {} from a device we \
                 had not seen before",
                when(*at)
            );
            match (device, address) {
                (Some(d), Some(a)) => what.push_str(&format!(" ({d}, address {a})")),
                (Some(d), None) => what.push_str(&format!(" ({d})")),
                (None, Some(a)) => what.push_str(&format!(" (address {a})")),
                (None, None) => {}
            }
            what.push('.');
            ("New sign-in to your Tiaki account", what)
        }
        Notice::FactorChanged { what } => (
            "Your Tiaki sign-in methods changed",
            format!("{what} on your Tiaki account \"{username}\"."),
        ),
        Notice::PasswordChanged => (
            "Your Tiaki password was changed",
            format!(
                "The password of your Tiaki account \"{username}\" was changed, and every \
                 other session of the account was signed out."
            ),
        ),
        Notice::PasswordReset => (
            "Your Tiaki password was reset",
            format!(
                "The password of your Tiaki account \"{username}\" was reset with a link \
                 sent by email, and every session of the account was signed out."
            ),
        ),
        Notice::EmailChanged => (
            "Your Tiaki email address was changed",
            format!(
                "The email address of your Tiaki account \"{username}\" was changed. \
                 Notices and reset links now go to the new address, not this one."
            ),
        ),
    };
    Email {
        subject: subject.to_owned(),
        body: format!(
            "Kia ora,\n\n{what}\n\nIf this was you, there is nothing to do.\n\n{NOT_YOU}\n\n{SIGN_OFF}\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_get_short_names() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/120.0 Safari/537.36";
        assert_eq!(device_name(chrome), "Chrome on Linux");
        assert_eq!(device_name("curl/8.5.0"), "curl");
    }

    #[test]
    fn notices_name_the_account_and_say_what_to_do() {
        let email = notice(
            "aroha.ngata",
            &Notice::NewDeviceSignIn {
                at: OffsetDateTime::UNIX_EPOCH,
                address: Some("203.0.113.9".into()),
                device: Some("Firefox on Windows".into()),
            },
        );
        assert!(email.body.contains("\"aroha.ngata\""));
        assert!(
            email
                .body
                .contains("Firefox on Windows, address 203.0.113.9")
        );
        assert!(email.body.contains("reset your password"));
        let reset = password_reset("aroha.ngata", "https://x/reset?token=T", 30);
        assert!(reset.body.contains("https://x/reset?token=T"));
        assert!(reset.body.contains("30 minutes"));
    }
}
