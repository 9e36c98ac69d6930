//! Email: a [`Mailer`] that sends plain, kind messages through SMTP (`lettre`) or, by
//! default, writes them as `.eml` files to an outbox directory.
//!
//! Sending never happens on the request's time: [`Mailer::send`] hands the message to a
//! background task and returns at once, so a password-reset request for an account
//! that exists takes as long as one for an account that does not, and a slow relay
//! slows nobody's page. Failed deliveries are retried a few times and then logged (by
//! id, never by address or content).
//!
//! Messages carry no health data: they say what happened to the account and where to
//! go, never a name of a document, a result or a condition.

mod config;
pub mod messages;

pub use config::{MailConfig, SmtpConfig, SmtpTls};
pub use messages::{Email, Notice};

use lettre::message::Body;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Deliveries in flight at once.
const CONCURRENCY: usize = 4;
/// Attempts per message before it is given up (and logged).
const ATTEMPTS: u32 = 4;

/// Why a message could not be made or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the address is not valid")]
    BadAddress,
    #[error("the message could not be built: {0}")]
    Build(String),
    #[error("delivery failed: {0}")]
    Delivery(String),
    #[error("mail is not configured")]
    Disabled,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>, PathBuf),
    /// No outbox and no relay (a bare library user): messages are dropped, loudly.
    Disabled,
}

struct Inner {
    transport: Transport,
    from: Option<Mailbox>,
    slots: Semaphore,
    sent: AtomicU64,
    failed: AtomicU64,
}

/// Sends email in the background. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match &self.inner.transport {
            Transport::Smtp(_) => "smtp",
            Transport::File(..) => "outbox",
            Transport::Disabled => "disabled",
        };
        f.debug_struct("Mailer")
            .field("transport", &transport)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The transport the configuration names: SMTP if a relay is set, else the outbox
    /// directory (created, private to this user), else none.
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        config.validate().map_err(MailError::Build)?;
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| MailError::Build("the sender is not an address".into()))?;
        let transport = match (&config.smtp, &config.outbox_dir) {
            (Some(smtp), _) => Transport::Smtp(smtp_transport(smtp)?),
            (None, Some(dir)) => {
                create_private_dir(dir)
                    .map_err(|e| MailError::Build(format!("cannot create the outbox: {e}")))?;
                Transport::File(AsyncFileTransport::new(dir), dir.clone())
            }
            (None, None) => Transport::Disabled,
        };
        Ok(Self::with(transport, Some(from)))
    }

    /// A mailer that sends nothing.
    #[must_use]
    pub fn disabled() -> Self {
        Self::with(Transport::Disabled, None)
    }

    fn with(transport: Transport, from: Option<Mailbox>) -> Self {
        Self {
            inner: Arc::new(Inner {
                transport,
                from,
                slots: Semaphore::new(CONCURRENCY),
                sent: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        }
    }

    /// The outbox directory, when that is where mail goes.
    #[must_use]
    pub fn outbox(&self) -> Option<&std::path::Path> {
        match &self.inner.transport {
            Transport::File(_, dir) => Some(dir),
            _ => None,
        }
    }

    /// Messages delivered and messages given up on, since start.
    #[must_use]
    pub fn counts(&self) -> (u64, u64) {
        (
            self.inner.sent.load(Ordering::Relaxed),
            self.inner.failed.load(Ordering::Relaxed),
        )
    }

    /// Queues `email` for `to` and returns at once. A malformed address is refused
    /// now; delivery problems are retried, then logged.
    pub fn send(&self, to: &str, email: Email) -> Result<(), MailError> {
        let message = self.build(to, email)?;
        let this = self.clone();
        tokio::spawn(async move {
            let Ok(_slot) = this.inner.slots.acquire().await else {
                return;
            };
            let mut wait = Duration::from_millis(500);
            for attempt in 1..=ATTEMPTS {
                match this.deliver_built(&message).await {
                    Ok(()) => {
                        this.inner.sent.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(MailError::Disabled) => return,
                    Err(e) if attempt == ATTEMPTS => {
                        this.inner.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(error = %e, attempts = ATTEMPTS, "an email could not be delivered");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, attempt, "email delivery failed; retrying");
                        tokio::time::sleep(wait).await;
                        wait *= 4;
                    }
                }
            }
        });
        Ok(())
    }

    /// Sends `email` to `to` now, waiting for the relay or the outbox (for tools and
    /// tests; requests use [`Mailer::send`]).
    pub async fn deliver(&self, to: &str, email: Email) -> Result<(), MailError> {
        let message = self.build(to, email)?;
        self.deliver_built(&message).await?;
        self.inner.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Sends `email` to `to` now, at most once per `key` where the transport allows:
    /// the outbox writes `<key>.eml` atomically and skips a key already written, and
    /// SMTP sends with the Message-ID `<key@domain>`, so a resend after a crash between
    /// the relay's acceptance and the caller's record is recognisably the same message.
    /// `key` must be letters, digits, `-` and `.` only.
    pub async fn deliver_keyed(
        &self,
        to: &str,
        email: Email,
        key: &str,
    ) -> Result<Delivery, MailError> {
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(MailError::Build(
                "a delivery key must be letters, digits, - and .".into(),
            ));
        }
        let message = self.build_with_id(to, email, Some(key))?;
        let delivery = match &self.inner.transport {
            Transport::File(_, dir) => write_once(dir, key, &message.formatted())
                .await
                .map_err(|e| MailError::Delivery(e.to_string()))?,
            _ => {
                self.deliver_built(&message).await?;
                Delivery::Sent
            }
        };
        if delivery == Delivery::Sent {
            self.inner.sent.fetch_add(1, Ordering::Relaxed);
        }
        Ok(delivery)
    }

    fn build(&self, to: &str, email: Email) -> Result<Message, MailError> {
        self.build_with_id(to, email, None)
    }

    fn build_with_id(
        &self,
        to: &str,
        email: Email,
        key: Option<&str>,
    ) -> Result<Message, MailError> {
        let to: Mailbox = to.trim().parse().map_err(|_| MailError::BadAddress)?;
        let from = self.inner.from.clone().ok_or(MailError::Disabled)?;
        let domain = from.email.domain().to_owned();
        // Quoted-printable always: the text is mostly ASCII (so it stays readable in an
        // .eml file) and "Ngā mihi" survives any relay.
        let body = Body::new_with_encoding(email.body, ContentTransferEncoding::QuotedPrintable)
            .map_err(|_| MailError::Build("the body cannot be encoded".into()))?;
        Message::builder()
            .from(from)
            .to(to)
            .subject(email.subject)
            .message_id(Some(match key {
                Some(key) => format!("<{key}@{domain}>"),
                None => format!("<{}@{domain}>", uuid::Uuid::new_v4()),
            }))
            .date_now()
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Build(e.to_string()))
    }

    async fn deliver_built(&self, message: &Message) -> Result<(), MailError> {
        match &self.inner.transport {
            Transport::Smtp(smtp) => smtp
                .send(message.clone())
                .await
                .map(|_| ())
                .map_err(|e| MailError::Delivery(e.to_string())),
            Transport::File(file, _) => file
                .send(message.clone())
                .await
                .map(|_| ())
                .map_err(|e| MailError::Delivery(e.to_string())),
            Transport::Disabled => {
                tracing::warn!(
                    "mail is not configured (no outbox, no SMTP): a message was dropped"
                );
                Err(MailError::Disabled)
            }
        }
    }
}

/// What a keyed delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The outbox already holds this key's message: nothing was written.
    AlreadyDelivered,
}

/// Writes `<dir>/<key>.eml` unless it exists: a temporary file, fsync, then a
/// no-replace link into place, so a reader never sees half a message and a second
/// writer of the same key writes nothing.
async fn write_once(dir: &std::path::Path, key: &str, bytes: &[u8]) -> std::io::Result<Delivery> {
    let dir = dir.to_owned();
    let key = key.to_owned();
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let target = dir.join(format!("{key}.eml"));
        if target.exists() {
            return Ok(Delivery::AlreadyDelivered);
        }
        let temp = dir.join(format!(".{key}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        // hard_link fails if the target exists: exactly one writer wins.
        let placed = std::fs::hard_link(&temp, &target);
        let _ = std::fs::remove_file(&temp);
        match placed {
            Ok(()) => {
                std::fs::File::open(&dir)?.sync_all()?;
                Ok(Delivery::Sent)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok(Delivery::AlreadyDelivered)
            }
            Err(e) => Err(e),
        }
    })
    .await
    .map_err(std::io::Error::other)?
}

fn smtp_transport(c: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let host = c.host.trim().to_owned();
    let tls = match c.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls | SmtpTls::Tls => {
            let params = TlsParameters::new(host.clone())
                .map_err(|e| MailError::Build(format!("TLS for the SMTP relay: {e}")))?;
            if c.tls == SmtpTls::Tls {
                Tls::Wrapper(params)
            } else {
                Tls::Required(params)
            }
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(c.port())
        .tls(tls)
        .timeout(Some(Duration::from_secs(20)));
    if let Some(user) = &c.username {
        let password = c
            .password
            .as_ref()
            .map(|p| p.expose_secret().to_owned())
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
