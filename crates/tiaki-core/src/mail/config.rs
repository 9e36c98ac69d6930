//! Where email goes, and how long the links in it stay good.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Email settings (`[core.mail]` in the TOML file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// The sender, e.g. `Tiaki <no-reply@portal.example>`.
    pub from: String,
    /// Where people reach Tiaki (`https://portal.example`); every link in an email
    /// starts with it. Unset, the server uses the address it listens on.
    pub public_url: Option<String>,
    /// The embedded default: each message is written as an `.eml` file here (the
    /// server sets `<data-dir>/outbox`). Used when no SMTP server is configured.
    pub outbox_dir: Option<PathBuf>,
    /// Send through this SMTP server instead of the outbox.
    pub smtp: Option<SmtpConfig>,
    /// How long a password-reset link works.
    pub reset_link_minutes: i64,
    /// How long an address-verification link works.
    pub verify_link_minutes: i64,
    /// How long an invitation to register works.
    pub invitation_days: i64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            from: "Tiaki <no-reply@tiaki.invalid>".to_owned(),
            public_url: None,
            outbox_dir: None,
            smtp: None,
            reset_link_minutes: 30,
            verify_link_minutes: 60,
            invitation_days: 7,
        }
    }
}

impl MailConfig {
    /// The base of every link, without a trailing slash.
    #[must_use]
    pub fn base_url(&self) -> String {
        self.public_url
            .as_deref()
            .unwrap_or("http://127.0.0.1:8080")
            .trim_end_matches('/')
            .to_owned()
    }

    /// Checks what can be checked before anything is sent.
    pub fn validate(&self) -> Result<(), String> {
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("the mail sender {:?} is not an address: {e}", self.from))?;
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(format!(
                "public_url {url:?} must start with https:// or http://"
            ));
        }
        if let Some(smtp) = &self.smtp
            && smtp.host.trim().is_empty()
        {
            return Err("the SMTP host is empty".to_owned());
        }
        for (name, value) in [
            ("reset_link_minutes", self.reset_link_minutes),
            ("verify_link_minutes", self.verify_link_minutes),
            ("invitation_days", self.invitation_days),
        ] {
            if value <= 0 {
                return Err(format!("{name} must be more than 0"));
            }
        }
        Ok(())
    }
}

/// An SMTP relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default: 25 without TLS, 587 with STARTTLS, 465 with TLS.
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    pub username: Option<String>,
    /// Never written out, never logged.
    #[serde(default, skip_serializing)]
    pub password: Option<SecretString>,
}

impl SmtpConfig {
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        })
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same host or a test server.
    None,
    /// Plain connection upgraded with STARTTLS, which must succeed.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

impl SmtpTls {
    /// `none`, `starttls` or `tls`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::Starttls),
            "tls" => Ok(Self::Tls),
            other => Err(format!(
                "SMTP TLS mode {other:?} is not one of none, starttls, tls"
            )),
        }
    }
}
