//! Configuration: command-line flags, then `TIAKI_*` environment variables, then a
//! TOML file, then defaults that run on a laptop (SQLite, local ciphertext directory,
//! generated keyring, all under `./tiaki-data`).

use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tiaki_core::CoreConfig;

#[derive(Debug, Args, Clone)]
pub struct ConfigArgs {
    /// A TOML configuration file.
    #[arg(long, env = "TIAKI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the embedded database, ciphertext and keyring live.
    #[arg(long, env = "TIAKI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "TIAKI_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// `sqlite://PATH` or `postgres://…` (default: SQLite in the data directory).
    #[arg(long, env = "TIAKI_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The keyring file (default: `keyring.json` in the data directory).
    #[arg(long, env = "TIAKI_KEYRING")]
    pub keyring: Option<PathBuf>,
    /// An S3-compatible endpoint for ciphertext (default: a local directory).
    #[arg(long, env = "TIAKI_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "TIAKI_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    #[arg(long, env = "TIAKI_S3_REGION")]
    pub s3_region: Option<String>,
    #[arg(long, env = "TIAKI_S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,
    #[arg(long, env = "TIAKI_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Allow plain HTTP to the S3 endpoint (local test servers only).
    #[arg(long, env = "TIAKI_S3_ALLOW_HTTP")]
    pub s3_allow_http: Option<bool>,
    /// Largest upload in bytes.
    #[arg(long, env = "TIAKI_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<u64>,
    /// The WebAuthn relying party id passkeys are bound to: the site's domain
    /// (default `localhost`; never an IP address).
    #[arg(long, env = "TIAKI_WEBAUTHN_RP_ID")]
    pub webauthn_rp_id: Option<String>,
    /// The origin people open, on the relying party id (default
    /// `http://localhost:8080`; with the `localhost` relying party any port is accepted).
    #[arg(long, env = "TIAKI_WEBAUTHN_ORIGIN")]
    pub webauthn_origin: Option<String>,
    /// Whether staff and operators may sign in with an authenticator app instead of a
    /// passkey (default: no; yes for a demo). Wins over the file and the demo default.
    #[arg(long, env = "TIAKI_STAFF_TOTP_ALLOWED")]
    pub staff_totp_allowed: Option<bool>,
    /// Where people reach Tiaki (`https://portal.example`): links in emails start with
    /// it (default: the address the server listens on).
    #[arg(long, env = "TIAKI_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The sender of Tiaki's emails, e.g. `Tiaki <no-reply@portal.example>`.
    #[arg(long, env = "TIAKI_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Send email through this SMTP relay (default: `.eml` files in `<data-dir>/outbox`).
    #[arg(long, env = "TIAKI_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// The relay's port (default 587 with STARTTLS, 465 with TLS, 25 without).
    #[arg(long, env = "TIAKI_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls` (SMTPS) or `none` (a relay on this host, tests).
    #[arg(long, env = "TIAKI_SMTP_TLS")]
    pub smtp_tls: Option<String>,
    #[arg(long, env = "TIAKI_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    #[arg(long, env = "TIAKI_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// Serve plain HTTP on a non-loopback address because a TLS-terminating proxy
    /// stands in front. Without it, Tiaki refuses to listen beyond loopback.
    #[arg(long, env = "TIAKI_BEHIND_TLS_PROXY")]
    pub behind_tls_proxy: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    keyring: Option<PathBuf>,
    behind_tls_proxy: Option<bool>,
    s3: Option<FileS3>,
    core: Option<CoreConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileS3 {
    endpoint: Option<String>,
    bucket: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    allow_http: Option<bool>,
}

/// Where ciphertext goes.
#[derive(Debug, Clone)]
pub enum BlobSettings {
    Local(PathBuf),
    S3(tiaki_store::S3Config),
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub database_url: String,
    pub keyring: PathBuf,
    pub blobs: BlobSettings,
    pub core: CoreConfig,
    pub behind_tls_proxy: bool,
    /// `staff_totp_allowed` was given on the command line or in the environment, so a
    /// demo does not change it.
    pub staff_totp_explicit: bool,
}

impl Settings {
    pub fn load(args: &ConfigArgs) -> Result<Self, String> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./tiaki-data"));
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("tiaki.db").display()));
        let keyring = args
            .keyring
            .clone()
            .or(file.keyring)
            .unwrap_or_else(|| data_dir.join("keyring.json"));
        let s3 = file.s3.unwrap_or_default();
        let endpoint = args.s3_endpoint.clone().or(s3.endpoint);
        let bucket = args.s3_bucket.clone().or(s3.bucket);
        let blobs = match bucket {
            None if endpoint.is_none() => BlobSettings::Local(data_dir.join("blobs")),
            None => return Err("an S3 endpoint is set but no bucket (TIAKI_S3_BUCKET)".to_owned()),
            Some(bucket) => BlobSettings::S3(tiaki_store::S3Config {
                endpoint,
                bucket,
                region: args
                    .s3_region
                    .clone()
                    .or(s3.region)
                    .unwrap_or_else(|| "us-east-1".to_owned()),
                access_key_id: args
                    .s3_access_key_id
                    .clone()
                    .or(s3.access_key_id)
                    .unwrap_or_default(),
                secret_access_key: args
                    .s3_secret_access_key
                    .clone()
                    .or(s3.secret_access_key)
                    .unwrap_or_default()
                    .into(),
                allow_http: args.s3_allow_http.or(s3.allow_http).unwrap_or(false),
            }),
        };
        let mut core = file.core.unwrap_or_default();
        if core.audit_witness_file.is_none() {
            core.audit_witness_file = Some(data_dir.join("audit-witness.txt"));
        }
        if let Some(max) = args.max_upload_bytes {
            core.max_upload_bytes = max;
        }
        if let Some(rp_id) = &args.webauthn_rp_id {
            core.webauthn.rp_id.clone_from(rp_id);
        }
        if let Some(origin) = &args.webauthn_origin {
            core.webauthn.origins = vec![origin.clone()];
        }
        core.webauthn.build()?;
        if let Some(allowed) = args.staff_totp_allowed {
            core.staff_totp_allowed = allowed;
        }
        apply_mail(args, &data_dir, &mut core.mail)?;
        core.archive.validate()?;
        if core.max_upload_bytes == 0 {
            return Err("max_upload_bytes must be more than 0".to_owned());
        }
        Ok(Self {
            data_dir,
            listen,
            database_url,
            keyring,
            blobs,
            core,
            behind_tls_proxy: args.behind_tls_proxy || file.behind_tls_proxy.unwrap_or(false),
            staff_totp_explicit: args.staff_totp_allowed.is_some(),
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the configuration file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        format!(
            "the configuration file {} is not valid: {e}",
            path.display()
        )
    })
}

/// Email settings: flags and variables over the file; without an SMTP relay, the outbox
/// directory `<data-dir>/outbox`.
fn apply_mail(
    args: &ConfigArgs,
    data_dir: &Path,
    mail: &mut tiaki_core::mail::MailConfig,
) -> Result<(), String> {
    use tiaki_core::mail::{SmtpConfig, SmtpTls};
    if let Some(url) = &args.public_url {
        mail.public_url = Some(url.clone());
    }
    if let Some(from) = &args.mail_from {
        mail.from.clone_from(from);
    }
    if let Some(host) = &args.smtp_host {
        mail.smtp = Some(SmtpConfig {
            host: host.clone(),
            port: None,
            tls: SmtpTls::default(),
            username: None,
            password: None,
        });
    }
    if let Some(smtp) = &mut mail.smtp {
        if let Some(port) = args.smtp_port {
            smtp.port = Some(port);
        }
        if let Some(tls) = &args.smtp_tls {
            smtp.tls = SmtpTls::parse(tls)?;
        }
        if let Some(user) = &args.smtp_username {
            smtp.username = Some(user.clone());
        }
        if let Some(password) = &args.smtp_password {
            smtp.password = Some(password.clone().into());
        }
    } else if mail.outbox_dir.is_none() {
        mail.outbox_dir = Some(data_dir.join("outbox"));
    }
    mail.validate()
}
